// chorus-handover: what a listener's Opus stream loses when the mixer hands
// it from one encoder to another (shared encoding, bench/RESULTS.md
// "Sidebars"). Real Conference, real speech: the listener's decoded stream
// is compared, per 10 ms block above -30 dBFS, with one encoder that coded
// the same listener's mix throughout (level difference in dB), at the
// switches and elsewhere.
//
//   chorus-handover MAIN.raw PARTNER.raw [sidebar|pair|talker] [BAND] [COMPLEXITY]
//
// MAIN and PARTNER: 48 kHz mono signed 16-bit raw (sox ... -r 48000 -c 1
// -b 16 -e signed -t raw). The partner talks 0.6 s of every 1.6 s.
//   sidebar: the listener (silent) and the partner share a sidebar; the main
//            room's talker is heard at -12 dB. The listener passes between
//            the quiet main room's group and its sidebar's group. BAND
//            (narrowband..fullband, default wideband) and COMPLEXITY (default
//            0) set the sidebar's Opus encoding.
//   pair:    as sidebar, but the listener talks too (PARTNER's voice, from
//            its middle), 0.6 s of every 1.6 s, starting 0.4 s before the
//            partner: it passes between the quiet main room's group, a mix
//            of its own (both talking) and its sidebar's group.
//   talker:  the listener is the one who talks on and off in the main room,
//            passing between a mix of its own and the room's shared one.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/conference.hpp"

namespace {

using namespace chorus::mixer;

std::vector<int16_t> read_raw(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<int16_t> pcm(bytes.size() / 2);
  for (size_t i = 0; i < pcm.size(); ++i) {
    pcm[i] = static_cast<int16_t>(static_cast<uint8_t>(bytes[2 * i]) |
                                  (static_cast<uint8_t>(bytes[2 * i + 1]) << 8));
  }
  return pcm;
}

double power(std::span<const int16_t> x) {
  double sum = 1.0;
  for (int16_t s : x) sum += static_cast<double>(s) * s;
  return sum / static_cast<double>(x.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: %s MAIN.raw PARTNER.raw [sidebar|pair|talker] [BAND] [COMPLEXITY]\n",
                 argv[0]);
    return 2;
  }
  const std::vector<int16_t> main_voice = read_raw(argv[1]);
  const std::vector<int16_t> partner_voice = read_raw(argv[2]);
  const std::string mode = argc > 3 ? argv[3] : "sidebar";
  const auto band = opus_bandwidth_from_name(argc > 4 ? argv[4] : "wideband");
  const int complexity = argc > 5 ? std::atoi(argv[5]) : 0;
  const bool sidebar = mode == "sidebar" || mode == "pair";
  if ((!sidebar && mode != "talker") || !band || complexity < 0 || complexity > 10) {
    std::fprintf(stderr, "bad mode, band or complexity\n");
    return 2;
  }
  constexpr size_t kFrame = 960;  // 20 ms at 48 kHz
  const size_t ticks = std::min(main_voice.size(), partner_voice.size()) / kFrame;
  if (ticks < 100) {
    std::fprintf(stderr, "need at least 2 s of each voice\n");
    return 2;
  }

  const CodecParams opus = default_params(CodecId::kOpus);
  Conference c(ConferenceConfig{});
  ParticipantSettings listener;
  ParticipantSettings partner;
  CodecParams reference_codec = opus;
  if (sidebar) {
    listener.sidebar = partner.sidebar = 1;
    listener.sidebar_opus_bandwidth = partner.sidebar_opus_bandwidth = *band;
    listener.sidebar_opus_complexity = partner.sidebar_opus_complexity = complexity;
    reference_codec.max_bandwidth = *band;
    reference_codec.complexity = std::min(opus.complexity, complexity);
  }
  // 1: the main room's talker; 2: the listener; 3: the partner (sidebar,
  // pair) or nobody (talker: 2 itself talks on and off).
  if (!c.add(1, opus) || !c.add(2, opus, listener) || (sidebar && !c.add(3, opus, partner)))
    return 1;
  const size_t listener_index = *c.index_of(2);
  auto decoder = make_decoder(opus);
  auto reference_decoder = make_decoder(opus);
  auto reference = make_encoder(reference_codec);
  std::vector<uint8_t> payload(kMaxPayloadBytes);

  const uint8_t* last_source = nullptr;
  size_t switches = 0;
  size_t since_switch = 100;
  double worst_at_switch = 0.0;
  double worst_elsewhere = 0.0;
  double sum_elsewhere = 0.0;
  size_t blocks_elsewhere = 0;
  for (size_t t = 0; t < ticks; ++t) {
    const bool on = t % 80 < 30;
    const bool listener_on = mode == "pair" && (t + 20) % 80 < 30;
    for (size_t i = 0; i < c.size(); ++i) {
      Frame& f = c.input_slot(i);
      f.sample_rate = 48000;
      f.channels = 1;
      f.samples = kFrame;
      const ParticipantId id = c.id_at(i);
      const bool partner_speaks = (sidebar ? id == 3 : id == 2) && on;
      const std::vector<int16_t>* voice = id == 1          ? &main_voice
                                          : partner_speaks ? &partner_voice
                                                           : nullptr;
      // The listener's own voice: the partner's recording from its middle.
      const size_t at = id == 2 && listener_on ? (t + ticks / 2) % ticks : t;
      if (id == 2 && listener_on) voice = &partner_voice;
      f.silent = voice == nullptr;
      for (size_t s = 0; s < kFrame; ++s) f.data[s] = voice ? (*voice)[at * kFrame + s] : 0;
    }
    c.tick(t);
    const Frame& heard = c.output(listener_index);
    // Which encoder: each chain writes its payloads into a buffer of its own.
    const uint8_t* source = c.payload(listener_index).data();
    if (last_source != nullptr && source != last_source) {
      ++switches;
      since_switch = 0;
    }
    last_source = source;
    Frame decoded;
    Frame expected;
    if (!decoder->decode(c.payload(listener_index), decoded)) return 1;
    const size_t n = reference->encode(heard, payload);
    if (!reference_decoder->decode(std::span<const uint8_t>(payload.data(), n), expected)) return 1;
    if (t >= 20) {
      for (size_t b = 0; b < 2; ++b) {
        const auto want = expected.pcm().subspan(b * 480, 480);
        if (power(want) < 1e6) continue;  // below -30 dBFS
        const double off =
            std::abs(10.0 * std::log10(power(decoded.pcm().subspan(b * 480, 480)) / power(want)));
        if (since_switch < 2) {
          worst_at_switch = std::max(worst_at_switch, off);
        } else {
          worst_elsewhere = std::max(worst_elsewhere, off);
          sum_elsewhere += off;
          ++blocks_elsewhere;
        }
      }
    }
    ++since_switch;
  }
  std::printf(
      "{\"mode\": \"%s\", \"switches\": %zu, \"worst_db_at_switch\": %.1f, "
      "\"worst_db_elsewhere\": %.1f, \"mean_db_elsewhere\": %.2f}\n",
      mode.c_str(), switches, worst_at_switch, worst_elsewhere,
      blocks_elsewhere ? sum_elsewhere / static_cast<double>(blocks_elsewhere) : 0.0);
  return 0;
}
