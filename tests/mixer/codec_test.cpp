// Codec round trips, packet-loss concealment, Opus FEC/DTX/stereo, and bad
// payloads, on real signals measured by SNR and Goertzel energies.

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include <opus/opus.h>

#include "mixer/codec.hpp"
#include "mixer/g711_codec.hpp"
#include "mixer/goertzel.hpp"
#include "mixer/opus_codec.hpp"
#include "mixer/tone.hpp"
#include "tests/mixer/codec_test_util.hpp"

namespace chorus::mixer {
namespace {

using testing::aligned_snr_db;
using testing::round_trip;
using testing::tone_signal;

CodecParams opus_at(int rate, int complexity = 5) {
  CodecParams p = default_params(CodecId::kOpus);
  p.sample_rate = rate;
  p.complexity = complexity;
  return p;
}

struct RoundTripCase {
  const char* name;
  CodecParams params;
  double min_tone_snr_db;       // 1 kHz tone
  double min_multitone_snr_db;  // 300 + 1100 + 2300 Hz
  double min_speech_snr_db;
  double multitone_tolerance;  // relative error of each tone's amplitude
};

std::vector<RoundTripCase> round_trip_cases() {
  return {
      // Waveform SNR measured at commit time, less a margin: G.711 ~37-43 dB,
      // G.722 ~26-47 dB. Opus is perceptual (SILK below 48 kHz at the default
      // bitrate), so its waveform SNR is low even when it sounds fine.
      {"PCMU", default_params(CodecId::kPcmu), 34.0, 32.0, 30.0, 0.1},
      {"PCMA", default_params(CodecId::kPcma), 32.0, 32.0, 30.0, 0.1},
      {"G722", default_params(CodecId::kG722), 40.0, 28.0, 20.0, 0.1},
      {"Opus8k", opus_at(8000), 10.0, 3.0, 5.0, 0.45},
      {"Opus16k", opus_at(16000), 8.0, 2.0, 5.0, 0.45},
      {"Opus48k", opus_at(48000), 24.0, 10.0, 8.0, 0.2},
  };
}

// Max codec delay searched when aligning output with input: 10 ms.
size_t max_delay(int rate) {
  return static_cast<size_t>(rate / 100);
}

TEST(CodecRoundTrip, ToneKeepsFrequencyLevelAndSnrAtEveryRate) {
  for (const auto& c : round_trip_cases()) {
    SCOPED_TRACE(c.name);
    const int rate = c.params.sample_rate;
    const auto in = tone_signal(rate, {1000.0}, 8000.0, 1.0);
    const auto out = round_trip(c.params, in);
    ASSERT_EQ(out.size(), in.size());
    const double snr = aligned_snr_db(in, out, max_delay(rate), static_cast<size_t>(rate / 5));
    RecordProperty(std::string(c.name) + "_tone_snr", std::to_string(snr));
    EXPECT_GE(snr, c.min_tone_snr_db);
    // The tone survives at its frequency and level, and nothing appears elsewhere.
    const std::span tail(out.data() + rate / 2, static_cast<size_t>(rate / 2));
    EXPECT_NEAR(goertzel_amplitude(tail, 1000.0, rate), 8000.0, 8000.0 * 0.12);
    EXPECT_LT(goertzel_amplitude(tail, 1500.0, rate), 400.0);
  }
}

TEST(CodecRoundTrip, MultiToneKeepsEveryComponent) {
  for (const auto& c : round_trip_cases()) {
    SCOPED_TRACE(c.name);
    const int rate = c.params.sample_rate;
    const auto in = tone_signal(rate, {300.0, 1100.0, 2300.0}, 4000.0, 1.0);
    const auto out = round_trip(c.params, in);
    const double snr = aligned_snr_db(in, out, max_delay(rate), static_cast<size_t>(rate / 5));
    RecordProperty(std::string(c.name) + "_multitone_snr", std::to_string(snr));
    EXPECT_GE(snr, c.min_multitone_snr_db);
    const std::span tail(out.data() + rate / 2, static_cast<size_t>(rate / 2));
    for (double f : {300.0, 1100.0, 2300.0}) {
      EXPECT_NEAR(goertzel_amplitude(tail, f, rate), 4000.0, 4000.0 * c.multitone_tolerance)
          << f << " Hz";
    }
  }
}

TEST(CodecRoundTrip, SpeechSurvivesWithinStatedSnr) {
  for (const auto& c : round_trip_cases()) {
    SCOPED_TRACE(c.name);
    const int rate = c.params.sample_rate;
    const auto in = testing::speech(rate);
    if (!in) GTEST_SKIP() << "espeak-ng or sox not installed";
    const auto out = round_trip(c.params, *in);
    const double snr = aligned_snr_db(*in, out, max_delay(rate), static_cast<size_t>(rate / 10));
    RecordProperty(std::string(c.name) + "_speech_snr", std::to_string(snr));
    EXPECT_GE(snr, c.min_speech_snr_db);
  }
}

// ---- Packet-loss concealment ------------------------------------------------

struct PlcCase {
  const char* name;
  CodecParams params;
};

std::vector<PlcCase> plc_cases() {
  return {{"PCMU", default_params(CodecId::kPcmu)},
          {"PCMA", default_params(CodecId::kPcma)},
          {"G722", default_params(CodecId::kG722)},
          {"Opus48k", opus_at(48000)},
          {"Opus16k", opus_at(16000)}};
}

// Feeds `frames` of a 440 Hz tone (a voiced pitch) through the codec.
void prime_with_tone(const CodecParams& p, Encoder& enc, Decoder& dec, ToneGenerator& tone,
                     int frames) {
  Frame f, out;
  std::array<uint8_t, kMaxPayloadBytes> payload{};
  for (int i = 0; i < frames; ++i) {
    tone.next_frame(f);
    const size_t n = enc.encode(f, payload);
    ASSERT_GT(n, 0u);
    ASSERT_TRUE(dec.decode(std::span(payload.data(), n), out));
    ASSERT_EQ(out.sample_rate, p.sample_rate);
  }
}

// The G.711 tables must be SpanDSP's conversions exactly: every code and
// every 16-bit sample, both laws, through the same calls the codec makes.
TEST(G711Tables, MatchSpanDspForEveryCodeAndEverySample) {
  std::array<uint8_t, 256> codes{};
  for (int c = 0; c < 256; ++c) codes[c] = static_cast<uint8_t>(c);
  std::array<int16_t, 256> decoded{};
  for (bool alaw : {false, true}) {
    g711_decode_samples(alaw, codes, decoded.data());
    for (int c = 0; c < 256; ++c) {
      const int16_t want = alaw ? alaw_to_linear(codes[c]) : ulaw_to_linear(codes[c]);
      ASSERT_EQ(decoded[c], want) << (alaw ? "A-law " : "u-law ") << c;
    }
  }
  std::vector<int16_t> samples;
  for (int v = -32768; v < 32768; ++v) samples.push_back(static_cast<int16_t>(v));
  std::vector<uint8_t> encoded(samples.size());
  std::vector<uint8_t> one_by_one(samples.size());
  for (bool alaw : {false, true}) {
    // Whole: the vector path (16 samples at a time); one at a time: the
    // scalar tail. Both must give SpanDSP's code for every sample.
    g711_encode_samples(alaw, samples, encoded.data());
    for (size_t i = 0; i < samples.size(); ++i)
      g711_encode_samples(alaw, std::span(samples).subspan(i, 1), one_by_one.data() + i);
    for (size_t i = 0; i < samples.size(); ++i) {
      const uint8_t want = alaw ? linear_to_alaw(samples[i]) : linear_to_ulaw(samples[i]);
      ASSERT_EQ(encoded[i], want) << (alaw ? "A-law " : "u-law ") << samples[i];
      ASSERT_EQ(one_by_one[i], want)
          << (alaw ? "A-law, one at a time " : "u-law, one at a time ") << samples[i];
    }
  }
}

// The codec objects give the same bytes and samples as SpanDSP's own G.711
// state machine over a tone (the path every G.711 member takes).
TEST(G711Tables, CodecMatchesSpanDspsStateMachineOnATone) {
  for (bool alaw : {false, true}) {
    const CodecId id = alaw ? CodecId::kPcma : CodecId::kPcmu;
    auto enc = make_encoder(default_params(id));
    auto dec = make_decoder(default_params(id));
    g711_state_t* ref = g711_init(nullptr, alaw ? G711_ALAW : G711_ULAW);
    ASSERT_NE(ref, nullptr);
    const std::vector<int16_t> pcm = tone_signal(8000, {1000.0}, 8000.0, 0.02);
    Frame in;
    in.sample_rate = 8000;
    in.channels = 1;
    in.samples = pcm.size();
    std::copy(pcm.begin(), pcm.end(), in.data.begin());
    std::array<uint8_t, 160> bytes{}, want_bytes{};
    ASSERT_EQ(enc->encode(in, bytes), 160u);
    ASSERT_EQ(g711_encode(ref, want_bytes.data(), pcm.data(), 160), 160);
    EXPECT_EQ(bytes, want_bytes);
    Frame out;
    ASSERT_TRUE(dec->decode(bytes, out));
    std::array<int16_t, 160> want_pcm{};
    ASSERT_EQ(g711_decode(ref, want_pcm.data(), want_bytes.data(), 160), 160);
    ASSERT_EQ(out.samples, 160u);
    EXPECT_TRUE(std::equal(want_pcm.begin(), want_pcm.end(), out.data.begin()));
    g711_free(ref);
  }
}

TEST(CodecPlc, OneLostFrameAfterToneIsTonalNotSilentNotExplosive) {
  for (const auto& c : plc_cases()) {
    SCOPED_TRACE(c.name);
    auto enc = make_encoder(c.params);
    auto dec = make_decoder(c.params);
    const int rate = c.params.sample_rate;
    ToneGenerator tone(rate, {440.0}, 8000.0);
    prime_with_tone(c.params, *enc, *dec, tone, 25);
    Frame lost;
    dec->conceal(lost);
    ASSERT_EQ(lost.samples, samples_per_tick(rate));
    ASSERT_EQ(lost.sample_rate, rate);
    const double level = rms(lost.pcm());
    EXPECT_GT(level, 8000.0 / std::sqrt(2.0) * 0.3);  // not silent
    int peak = 0;
    for (int16_t s : lost.pcm()) peak = std::max(peak, std::abs(static_cast<int>(s)));
    EXPECT_LT(peak, 8000 * 1.5);  // not explosive
    // Still the same pitch: 440 Hz dominates a neighbouring frequency.
    EXPECT_GT(goertzel_amplitude(lost.pcm(), 440.0, rate),
              4.0 * goertzel_amplitude(lost.pcm(), 700.0, rate));
  }
}

TEST(CodecPlc, ManyLostFramesFadeToSilence) {
  for (const auto& c : plc_cases()) {
    SCOPED_TRACE(c.name);
    auto enc = make_encoder(c.params);
    auto dec = make_decoder(c.params);
    ToneGenerator tone(c.params.sample_rate, {440.0}, 8000.0);
    prime_with_tone(c.params, *enc, *dec, tone, 25);
    std::vector<double> levels;
    Frame lost;
    for (int i = 0; i < 15; ++i) {
      dec->conceal(lost);
      levels.push_back(rms(lost.pcm()));
    }
    EXPECT_GT(levels.front(), 1000.0);
    EXPECT_LT(levels.back(), levels.front() * 0.1) << "300 ms of loss must fade out";
    for (size_t i = 1; i < levels.size(); ++i) EXPECT_LE(levels[i], levels[0] * 1.25);
  }
}

TEST(CodecPlc, AudioResumesAfterLoss) {
  for (const auto& c : plc_cases()) {
    SCOPED_TRACE(c.name);
    auto enc = make_encoder(c.params);
    auto dec = make_decoder(c.params);
    const int rate = c.params.sample_rate;
    ToneGenerator tone(rate, {440.0}, 8000.0);
    prime_with_tone(c.params, *enc, *dec, tone, 10);
    Frame f, out;
    std::array<uint8_t, kMaxPayloadBytes> payload{};
    for (int i = 0; i < 3; ++i) {
      tone.next_frame(f);
      (void)enc->encode(f, payload);  // sent but lost
      dec->conceal(out);
    }
    for (int i = 0; i < 5; ++i) {
      tone.next_frame(f);
      const size_t n = enc->encode(f, payload);
      ASSERT_TRUE(dec->decode(std::span(payload.data(), n), out));
    }
    EXPECT_NEAR(goertzel_amplitude(out.pcm(), 440.0, rate), 8000.0, 8000.0 * 0.2);
  }
}

// ---- Opus specifics --------------------------------------------------------

// Encodes a speech-like signal with FEC, drops one packet, and compares the
// rebuilt frame from the next packet's LBRR data with plain PLC.
TEST(OpusFec, RecoversLostFrameBetterThanPlc) {
  auto speech = testing::speech(16000);
  std::vector<int16_t> in;
  if (speech) {
    in = *speech;
  } else {
    // A gliding multi-tone stands in for speech when espeak-ng is missing.
    in = tone_signal(16000, {220.0, 660.0, 1320.0}, 3000.0, 2.0);
  }
  CodecParams p = opus_at(16000);
  p.bitrate = 24000;
  p.fec = true;
  auto enc = make_encoder(p);
  const size_t n = samples_per_tick(16000);
  std::vector<std::vector<uint8_t>> packets;
  Frame f;
  std::array<uint8_t, kMaxPayloadBytes> buf{};
  for (size_t at = 0; at + n <= in.size(); at += n) {
    f.sample_rate = 16000;
    f.samples = n;
    std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(at), n, f.data.begin());
    const size_t bytes = enc->encode(f, buf);
    ASSERT_GT(bytes, 0u);
    packets.emplace_back(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(bytes));
  }
  // Reference: the clean decode of every packet.
  auto decode_all = [&](int lose, int mode /*0 clean, 1 plc, 2 fec*/) {
    auto dec = make_decoder(p);
    std::vector<int16_t> out;
    Frame o;
    bool used_fec = false;
    for (int i = 0; i < static_cast<int>(packets.size()); ++i) {
      if (i == lose && mode == 1) {
        dec->conceal(o);
      } else if (i == lose && mode == 2) {
        used_fec = dec->decode_fec(packets[static_cast<size_t>(i) + 1], o);
      } else {
        EXPECT_TRUE(dec->decode(packets[static_cast<size_t>(i)], o));
      }
      out.insert(out.end(), o.pcm().begin(), o.pcm().end());
    }
    if (mode == 2) {
      EXPECT_TRUE(used_fec);
    }
    return out;
  };
  const auto clean = decode_all(-1, 0);
  // Lose several different frames in the voiced middle and sum the error.
  double plc_err = 0.0, fec_err = 0.0;
  for (int lose : {30, 45, 60, 75}) {
    if (lose + 1 >= static_cast<int>(packets.size())) continue;
    const auto plc = decode_all(lose, 1);
    const auto fec = decode_all(lose, 2);
    const size_t from = static_cast<size_t>(lose) * n;
    for (size_t i = from; i < from + n; ++i) {
      plc_err += std::pow(static_cast<double>(clean[i]) - plc[i], 2.0);
      fec_err += std::pow(static_cast<double>(clean[i]) - fec[i], 2.0);
    }
  }
  EXPECT_LT(fec_err, plc_err * 0.5) << "fec " << fec_err << " plc " << plc_err;
}

// RFC 6716 §4.2.3: the LBRR flag read from the packet itself says whether
// FEC is there, so decode_fec() does not pretend when it is not.
TEST(OpusFec, LbrrFlagIsReadFromThePacket) {
  auto speech = testing::speech(16000);
  const std::vector<int16_t> in =
      speech ? *speech : tone_signal(16000, {220.0, 660.0, 1320.0}, 3000.0, 2.0);
  for (bool fec : {true, false}) {
    SCOPED_TRACE(fec ? "fec on" : "fec off");
    CodecParams p = opus_at(16000);
    p.bitrate = 24000;
    p.fec = fec;
    auto enc = make_encoder(p);
    auto dec = make_decoder(p);
    Frame f, out;
    std::array<uint8_t, kMaxPayloadBytes> buf{};
    int with_fec = 0, packets = 0, fec_decodes = 0;
    for (size_t at = 0; at + 320 <= in.size(); at += 320) {
      f.sample_rate = 16000;
      f.samples = 320;
      std::copy_n(in.begin() + static_cast<std::ptrdiff_t>(at), 320, f.data.begin());
      const size_t n = enc->encode(f, buf);
      ++packets;
      if (opus_packet_has_fec(std::span(buf.data(), n))) ++with_fec;
      if (dec->decode_fec(std::span(buf.data(), n), out)) ++fec_decodes;
      EXPECT_EQ(out.samples, 320u);
    }
    EXPECT_EQ(with_fec, fec_decodes);
    if (fec) {
      EXPECT_GT(with_fec, packets / 3);
    } else {
      EXPECT_EQ(with_fec, 0);
    }
  }
  // CELT-only configurations (TOC config >= 16) never carry LBRR; garbage is not FEC.
  const std::array<uint8_t, 4> celt{static_cast<uint8_t>(31u << 3), 0xff, 0xff, 0xff};
  EXPECT_FALSE(opus_packet_has_fec(celt));
  EXPECT_FALSE(opus_packet_has_fec({}));
  const std::array<uint8_t, 1> toc_only{0x08};
  EXPECT_FALSE(opus_packet_has_fec(toc_only));
  const std::array<uint8_t, 3> bad_code3{0x0b, 0x00, 0x00};  // code 3 with zero frames
  EXPECT_FALSE(opus_packet_has_fec(bad_code3));
}

TEST(OpusDtx, SilenceBecomesTinyPacketsThatDecodeAsSilent) {
  CodecParams p = opus_at(48000);
  p.dtx = true;
  auto enc = make_encoder(p);
  auto dec = make_decoder(p);
  Frame silence, out;
  silence.set_silence(48000);
  std::array<uint8_t, kMaxPayloadBytes> buf{};
  int dtx_packets = 0;
  for (int i = 0; i < 50; ++i) {
    const size_t n = enc->encode(silence, buf);
    ASSERT_GT(n, 0u);
    const std::span payload(buf.data(), n);
    if (is_dtx_payload(CodecId::kOpus, payload)) {
      ++dtx_packets;
      ASSERT_TRUE(dec->decode(payload, out));
      EXPECT_TRUE(out.silent);
      EXPECT_LT(rms(out.pcm()), 50.0);
    }
  }
  EXPECT_GT(dtx_packets, 30) << "after a short hangover, silence is DTX";
  // A real frame is not DTX.
  ToneGenerator tone(48000, {1000.0}, 8000.0);
  tone.next_frame(silence);
  const size_t n = enc->encode(silence, buf);
  EXPECT_FALSE(is_dtx_payload(CodecId::kOpus, std::span(buf.data(), n)));
  EXPECT_FALSE(is_dtx_payload(CodecId::kPcmu, std::span(buf.data(), 1)));
}

TEST(OpusStereo, StereoStreamDecodesToMonoMix) {
  // Left 600 Hz, right 1400 Hz: the mono decode carries both at half level.
  OpusEncoder* raw = nullptr;
  int err = 0;
  raw = opus_encoder_create(48000, 2, OPUS_APPLICATION_AUDIO, &err);
  ASSERT_EQ(err, OPUS_OK);
  opus_encoder_ctl(raw, OPUS_SET_BITRATE(96000));
  auto dec = make_decoder(opus_at(48000));
  ToneGenerator left(48000, {600.0}, 8000.0), right(48000, {1400.0}, 8000.0);
  std::array<int16_t, 960> l{}, r{};
  std::array<int16_t, 1920> interleaved{};
  std::array<uint8_t, 1500> packet{};
  Frame out;
  for (int i = 0; i < 25; ++i) {
    left.fill(l);
    right.fill(r);
    for (size_t k = 0; k < 960; ++k) {
      interleaved[2 * k] = l[k];
      interleaved[2 * k + 1] = r[k];
    }
    const int n = opus_encode(raw, interleaved.data(), 960, packet.data(), 1500);
    ASSERT_GT(n, 0);
    ASSERT_TRUE(dec->decode(std::span(packet.data(), static_cast<size_t>(n)), out));
  }
  opus_encoder_destroy(raw);
  EXPECT_EQ(out.channels, 1);
  EXPECT_EQ(out.samples, 960u);
  EXPECT_NEAR(goertzel_amplitude(out.pcm(), 600.0, 48000), 4000.0, 1200.0);
  EXPECT_NEAR(goertzel_amplitude(out.pcm(), 1400.0, 48000), 4000.0, 1200.0);
}

TEST(OpusEncoderSettings, StereoEncoderTakesMonoFramesAndBitrateIsHonoured) {
  CodecParams p = opus_at(48000);
  p.channels = 2;
  p.bitrate = 16000;
  p.fec = false;
  auto enc = make_encoder(p);
  ToneGenerator tone(48000, {800.0}, 8000.0);
  Frame f;
  std::array<uint8_t, kMaxPayloadBytes> buf{};
  size_t total = 0;
  // The packets decode to the tone (libopus may code identical channels as mono).
  auto dec = make_decoder(opus_at(48000));
  Frame out;
  for (int i = 0; i < 50; ++i) {
    tone.next_frame(f);
    const size_t n = enc->encode(f, buf);
    ASSERT_GT(n, 0u);
    ASSERT_TRUE(dec->decode(std::span(buf.data(), n), out));
    total += n;
  }
  EXPECT_NEAR(goertzel_amplitude(out.pcm(), 800.0, 48000), 8000.0, 8000.0 * 0.2);
  // 16 kbit/s over one second is about 2000 bytes.
  EXPECT_LT(total, 3000u);
  EXPECT_GT(total, 1000u);
}

// Encoder::retune: an Opus encoder takes another band, complexity or bitrate
// in place. Its packets say a narrower band from the next frame on, and
// shrink to the band's own bitrate (wideband: 19 kbit/s, about 48 bytes a
// frame); retuned back, they grow to the full-band rate at once (libopus
// widens the coded band itself only after some hundreds of milliseconds).
// Anything else, or any other codec, is refused and changes nothing.
TEST(OpusEncoderSettings, RetuneChangesBandInPlaceAndRefusesOtherChanges) {
  const CodecParams full = opus_at(48000);
  auto enc = make_encoder(full);
  ToneGenerator tone(48000, {800.0, 6000.0}, 6000.0);
  Frame f;
  std::array<uint8_t, kMaxPayloadBytes> buf{};
  int band = 0;
  // Mean payload bytes of `frames` frames; `band` is the last packet's band.
  const auto run = [&](int frames) {
    size_t total = 0;
    for (int i = 0; i < frames; ++i) {
      tone.next_frame(f);
      const size_t n = enc->encode(f, buf);
      EXPECT_GT(n, 0u);
      total += n;
      band = opus_packet_get_bandwidth(buf.data());
    }
    return static_cast<double>(total) / frames;
  };
  EXPECT_GT(run(10), 100.0);
  EXPECT_EQ(band, OPUS_BANDWIDTH_FULLBAND);
  CodecParams wide = full;
  wide.max_bandwidth = OpusBandwidth::kWide;
  wide.complexity = 0;
  ASSERT_TRUE(enc->retune(wide));
  run(1);  // the switch
  EXPECT_LT(run(10), 60.0);
  EXPECT_EQ(band, OPUS_BANDWIDTH_WIDEBAND);
  ASSERT_TRUE(enc->retune(full));
  run(1);
  EXPECT_GT(run(10), 100.0);

  CodecParams other_rate = wide;
  other_rate.sample_rate = 16000;
  EXPECT_FALSE(enc->retune(other_rate));
  CodecParams no_fec = wide;
  no_fec.fec = false;
  EXPECT_FALSE(enc->retune(no_fec));
  CodecParams bad = wide;
  bad.complexity = 11;
  EXPECT_FALSE(enc->retune(bad));
  EXPECT_GT(run(10), 100.0);  // still at full band's rate
  auto pcmu = make_encoder(default_params(CodecId::kPcmu));
  EXPECT_FALSE(pcmu->retune(default_params(CodecId::kPcmu)));  // nothing to tune
}

// RFC 7587 §4.2: a packet may hold 2.5-60 ms; the decoder returns what the
// packet holds (up to kMaxSamples), and refuses what a Frame cannot hold.
TEST(OpusDecoder, ShortPacketsDecodeAndOverlongOnesAreRefused) {
  int err = 0;
  OpusEncoder* raw = opus_encoder_create(48000, 1, OPUS_APPLICATION_VOIP, &err);
  ASSERT_EQ(err, OPUS_OK);
  auto dec = make_decoder(opus_at(48000));
  std::vector<int16_t> pcm = tone_signal(48000, {500.0}, 6000.0, 0.06);
  std::array<uint8_t, 1500> packet{};
  Frame out;
  const int n10 = opus_encode(raw, pcm.data(), 480, packet.data(), 1500);
  ASSERT_GT(n10, 0);
  ASSERT_TRUE(dec->decode(std::span(packet.data(), static_cast<size_t>(n10)), out));
  EXPECT_EQ(out.samples, 480u);
  const int n60 = opus_encode(raw, pcm.data(), 2880, packet.data(), 1500);
  ASSERT_GT(n60, 0);
  EXPECT_FALSE(dec->decode(std::span(packet.data(), static_cast<size_t>(n60)), out));
  EXPECT_EQ(out.samples, 960u);  // silence of one tick instead
  opus_encoder_destroy(raw);
}

// ---- Bad input ------------------------------------------------------------

TEST(CodecBadInput, CorruptOrOversizedPayloadsAreRejectedWithoutCrashing) {
  for (const auto& c : round_trip_cases()) {
    SCOPED_TRACE(c.name);
    auto dec = make_decoder(c.params);
    Frame out;
    EXPECT_FALSE(dec->decode({}, out));
    EXPECT_EQ(out.samples, samples_per_tick(c.params.sample_rate));
    std::vector<uint8_t> huge(5000, 0x55);
    EXPECT_FALSE(dec->decode(huge, out));
    // Random bytes: G.711/G.722 decode anything; Opus may reject; never crash,
    // never write past the frame.
    uint32_t seed = 12345;
    for (int i = 0; i < 200; ++i) {
      std::vector<uint8_t> junk(1 + (seed % 400));
      for (auto& b : junk) {
        seed = seed * 1103515245u + 12345u;
        b = static_cast<uint8_t>(seed >> 16);
      }
      if (dec->decode(junk, out)) {
        EXPECT_LE(out.samples * static_cast<size_t>(out.channels), kMaxSamples);
      }
      (void)dec->decode_fec(junk, out);
      (void)opus_packet_has_fec(junk);
      EXPECT_LE(out.samples, kMaxSamples);
    }
  }
}

TEST(CodecBadInput, EncoderRejectsWrongRateAndShortBuffer) {
  auto enc = make_encoder(default_params(CodecId::kPcmu));
  Frame f;
  f.set_silence(16000);
  std::array<uint8_t, kMaxPayloadBytes> buf{};
  EXPECT_EQ(enc->encode(f, buf), 0u);
  f.set_silence(8000);
  std::array<uint8_t, 10> small{};
  EXPECT_EQ(enc->encode(f, small), 0u);
  auto opus = make_encoder(opus_at(48000));
  EXPECT_EQ(opus->encode(f, buf), 0u);  // 8 kHz frame into a 48 kHz encoder
}

TEST(CodecFactory, RejectsParamsTheCodecCannotHonour) {
  CodecParams p = default_params(CodecId::kOpus);
  p.sample_rate = 44100;
  EXPECT_THROW(make_decoder(p), std::invalid_argument);
  p = default_params(CodecId::kG722);
  p.sample_rate = 8000;
  EXPECT_THROW(make_encoder(p), std::invalid_argument);
  p = default_params(CodecId::kOpus);
  p.complexity = 11;
  EXPECT_THROW(make_encoder(p), std::invalid_argument);
  p = default_params(CodecId::kPcmu);
  p.ptime_ms = 30;
  EXPECT_THROW(make_decoder(p), std::invalid_argument);
}

TEST(CodecNames, SdpEncodingNamesRoundTripCaseInsensitively) {
  EXPECT_EQ(codec_from_name("pcmu"), CodecId::kPcmu);
  EXPECT_EQ(codec_from_name("PCMA"), CodecId::kPcma);
  EXPECT_EQ(codec_from_name("g722"), CodecId::kG722);
  EXPECT_EQ(codec_from_name("OPUS"), CodecId::kOpus);
  EXPECT_EQ(codec_from_name("G729"), std::nullopt);
  EXPECT_EQ(codec_from_name(""), std::nullopt);
  EXPECT_EQ(codec_name(CodecId::kOpus), "opus");
  // RFC 3551 §4.5.2: G.722 counts 8000 Hz although it samples at 16000.
  EXPECT_EQ(rtp_timestamp_step(default_params(CodecId::kG722)), 160u);
  EXPECT_EQ(rtp_timestamp_step(default_params(CodecId::kOpus)), 960u);
  EXPECT_EQ(rtp_timestamp_step(default_params(CodecId::kPcmu)), 160u);
}

// What a jitter buffer slot must hold (issue #16): every payload our own
// encoders produce for 20 ms, at the highest Opus bitrate too (RFC 6716
// §3.4 R2: a frame is at most 1275 bytes, plus the TOC byte).
TEST(CodecPayloadSize, EncodersNeverExceedTheLargestPayloadAJitterBufferKeeps) {
  EXPECT_EQ(max_payload_bytes(default_params(CodecId::kPcmu)), 160u);
  EXPECT_EQ(max_payload_bytes(default_params(CodecId::kPcma)), 160u);
  EXPECT_EQ(max_payload_bytes(default_params(CodecId::kG722)), 160u);
  EXPECT_EQ(max_payload_bytes(default_params(CodecId::kOpus)), 1276u);
  EXPECT_EQ(jitter_frame_budget(default_params(CodecId::kPcmu)), 160u);
  EXPECT_EQ(jitter_frame_budget(default_params(CodecId::kOpus)), 320u);  // 128 kbit/s
  CodecParams loud_opus = opus_at(48000);
  loud_opus.bitrate = 510000;
  loud_opus.complexity = 10;
  for (const CodecParams& p : {default_params(CodecId::kPcmu), default_params(CodecId::kPcma),
                               default_params(CodecId::kG722), loud_opus}) {
    SCOPED_TRACE(codec_name(p.id));
    auto enc = make_encoder(p);
    ToneGenerator tones(p.sample_rate, {440.0, 1250.0, 3100.0, 7000.0}, 7000.0);
    Frame f;
    std::array<uint8_t, kMaxPayloadBytes> buf{};
    size_t largest = 0;
    for (int i = 0; i < 50; ++i) {
      tones.next_frame(f);
      largest = std::max(largest, enc->encode(f, buf));
    }
    EXPECT_GT(largest, 0u);
    EXPECT_LE(largest, max_payload_bytes(p));
    if (p.id == CodecId::kOpus) {
      EXPECT_GT(largest, jitter_frame_budget(p)) << "a burst above the arena's budget";
    }
  }
}

}  // namespace
}  // namespace chorus::mixer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
