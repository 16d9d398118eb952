// libFuzzer target for the SDP codec and the offer/answer engine.
// Properties: parsing never crashes; whatever parses serializes into text that
// parses again to the same serialization; the answerer and the offerer's
// answer processing never crash on anything that parses.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "signaling/sdp/offer_answer.hpp"
#include "signaling/sdp/sdp_audio.hpp"
#include "signaling/sdp/sdp_session.hpp"

namespace {

using namespace chorus::sdp;

// Deterministic keys keep runs reproducible.
bool fixed_random(std::span<std::uint8_t> out) {
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(i * 7 + 1);
  return true;
}

LocalCapabilities capabilities(SrtpPolicy policy) {
  LocalCapabilities c;
  c.address = "192.0.2.1";
  c.srtp = policy;
  // Browser offers take the DTLS-SRTP path (issue #18).
  c.dtls_fingerprint =
      "sha-256 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:"
      "01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF";
  c.ice_public_address = "198.51.100.1";
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = Session::parse(text);
  if (!parsed) return 0;

  const std::string serialized = parsed->serialize();
  auto reparsed = Session::parse(serialized);
  if (!reparsed) std::abort();  // we emitted something we refuse to read
  if (reparsed->serialize() != serialized) std::abort();

  for (std::size_t i = 0; i < parsed->media.size(); ++i) {
    if (parsed->media[i].media == "audio") (void)parse_audio(parsed.value(), i);
  }

  for (SrtpPolicy policy : {SrtpPolicy::kOff, SrtpPolicy::kOffer, SrtpPolicy::kRequired}) {
    OfferAnswer answerer(capabilities(policy), fixed_random);
    auto answer = answerer.answer(parsed.value(), LocalMedia{40000, 0});
    if (!answer) std::abort();  // only an unparsable offer may fail
    if (!Session::parse(answer->sdp)) std::abort();
    if (answer->session.media.size() != parsed->media.size()) std::abort();

    // The same input as an answer to our own offer.
    OfferAnswer offerer(capabilities(policy), fixed_random);
    if (!offerer.create_offer(LocalMedia{41000, 0})) std::abort();
    (void)offerer.process_answer(text);
  }
  return 0;
}
