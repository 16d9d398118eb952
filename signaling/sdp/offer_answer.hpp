#pragma once

// The offer/answer model (RFC 3264) for one audio stream, in both roles:
//  - answerer: a remote offer in, our answer SDP + the negotiated media out;
//  - offerer:  our offer out (INVITE without SDP, dial-out, re-INVITE for
//              hold), then the remote answer in, the negotiated media out.
//
// Everything the media plane needs is in `Negotiated`; the SDP text is for
// the SIP layer. One `OfferAnswer` object lives per dialog: it owns the o=
// line (session id + version, RFC 3264 §8: the version goes up by one each
// time the description changes) and our SRTP keys for a pending offer.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "signaling/sdp/sdp_attributes.hpp"
#include "signaling/sdp/sdp_result.hpp"
#include "signaling/sdp/sdp_session.hpp"
#include "signaling/sdp/sdp_webrtc.hpp"

namespace chorus::sdp {

enum class SrtpPolicy {
  kOff,       // plain RTP only; SAVP offers are refused
  kOffer,     // we offer RTP/AVP with a=crypto (best effort); SDES used when the peer agrees
  kRequired,  // RTP/SAVP(F) with SDES only; plain RTP streams are refused
};

struct CodecSpec {
  std::string encoding;  // as in rtpmap, compared case-insensitively
  std::uint32_t clock_rate = 8000;
  std::uint32_t channels = 1;
  int payload_type = 0;  // the type we use when WE offer
  std::string fmtp;      // our receive parameters ("" for none), e.g. "useinbandfec=1"
};

// Chorus' codec set in its default preference: Opus (wideband, FEC), G.722,
// then G.711. A deployment that wants an all-narrowband mix (no resampling)
// puts PCMU/PCMA first.
std::vector<CodecSpec> default_codecs();

struct LocalCapabilities {
  std::vector<CodecSpec> codecs = default_codecs();
  // false: the first of OUR codecs the offer has wins; true: the first of the
  // OFFER's formats we support wins.
  bool honour_offerer_order = false;
  // RFC 4733 telephone-event, at 8000 and at 48000 Hz (for Opus).
  bool telephone_event = true;
  int telephone_event_pt_8000 = 101;
  int telephone_event_pt_48000 = 110;
  std::string telephone_events = "0-15";
  SrtpPolicy srtp = SrtpPolicy::kOff;
  // Our preference, for answers and for the order of our offer's lines.
  // AEAD_AES_128_GCM (RFC 7714) first: one pass for cipher and tag, about a
  // third of AES-CM + HMAC-SHA1's cost per packet with this libsrtp2
  // (bench/RESULTS.md, bench_srtp); peers without it take the next line.
  std::vector<CryptoSuite> crypto_suites = {
      CryptoSuite::kAeadAes128Gcm, CryptoSuite::kAesCm128HmacSha1_80,
      CryptoSuite::kAesCm128HmacSha1_32, CryptoSuite::kAeadAes256Gcm};
  std::string address = "127.0.0.1";  // our media address, IPv4 or IPv6 literal
  std::uint32_t ptime = 20;
  bool rtcp_mux = true;
  bool audio_level = true;  // RFC 6464 ssrc-audio-level header extension
  int audio_level_ext_id = 1;
  // Browser members (UDP/TLS/RTP/SAVPF, issue #18): our DTLS certificate's
  // a=fingerprint value ("sha-256 AB:..."); empty: such offers are refused.
  std::string dtls_fingerprint;
  // An announced public address (1:1 NAT), answered as a second host
  // candidate after the one on `address`; empty: none.
  std::string ice_public_address;
  std::string session_name = "Chorus";
  std::string origin_user = "chorus";
};

// An SRTP master key + salt we already use for a suite. Passing the current
// key on a re-INVITE keeps our outbound SRTP context (RFC 4568 §7.1.4 lets
// either side keep its key); without one, a fresh key is drawn.
struct LocalKey {
  CryptoSuite suite = CryptoSuite::kAesCm128HmacSha1_80;
  std::vector<std::uint8_t> key_salt;  // crypto_key_salt_size(suite) bytes
};

struct LocalMedia {
  std::uint16_t rtp_port = 0;
  std::uint16_t rtcp_port = 0;  // 0: rtp_port + 1 (RFC 3550 §11)
  std::vector<LocalKey> srtp_keys = {};
};

// Fills the span with cryptographically strong random bytes; false on failure.
using RandomSource = std::function<bool(std::span<std::uint8_t>)>;
RandomSource openssl_random();

struct NegotiatedCodec {
  int payload_type = 0;
  std::string encoding;
  std::uint32_t clock_rate = 0;
  std::uint32_t channels = 1;
  // The PEER's fmtp for this payload type: how it wants to receive (e.g. opus
  // maxplaybackrate, stereo, useinbandfec, maxaveragebitrate).
  std::vector<std::pair<std::string, std::string>> fmtp;
};

struct NegotiatedSrtp {
  CryptoSuite suite = CryptoSuite::kAesCm128HmacSha1_80;
  std::uint32_t tag = 0;
  std::vector<std::uint8_t> remote_key_salt;  // protects what the peer sends us
  std::vector<std::uint8_t> local_key_salt;   // protects what we send
};

// A browser member's ICE-lite and DTLS-SRTP parameters (RFC 8839, RFC 5763).
// We are always the DTLS server (a=setup:passive); the peer's role is
// actpass or active.
struct NegotiatedWebRtc {
  std::string remote_ufrag;
  std::string remote_pwd;
  Sha256 remote_fingerprint{};
  Setup remote_setup = Setup::kActPass;
  std::string mid;  // the audio m= line's a=mid ("" when the offer had none)
  std::string local_ufrag;
  std::string local_pwd;
  // Compared with the previous answer of this OfferAnswer: new ICE
  // credentials of the peer (RFC 8839 §4.4.1.1.1) give us new ones too and
  // the media side restarts ICE; a new fingerprint restarts DTLS
  // (RFC 5763 §5). Both false on the first answer.
  bool ice_restart = false;
  bool fingerprint_changed = false;
};

struct Negotiated {
  bool accepted = false;
  std::string reason;  // why not, when !accepted
  std::size_t media_index = 0;
  NegotiatedCodec codec;
  std::optional<int> telephone_event_pt;
  std::uint32_t telephone_event_rate = 0;
  std::string remote_address;  // may be 0.0.0.0 (old-style hold): do not send
  std::uint16_t remote_rtp_port = 0;
  std::string remote_rtcp_address;
  std::uint16_t remote_rtcp_port = 0;
  // The peer's RTP SSRC when its SDP signals exactly one (RFC 5576 a=ssrc).
  std::optional<std::uint32_t> remote_ssrc;
  bool rtcp_mux = false;
  Direction local_direction = Direction::kSendRecv;   // what we do
  Direction remote_direction = Direction::kSendRecv;  // what the peer does
  bool remote_hold = false;  // peer does not want our media (sendonly/inactive/c=0.0.0.0)
  std::optional<NegotiatedSrtp> srtp;
  // Set for UDP/TLS/RTP/SAVP(F): keys come from DTLS, remote_address stays
  // empty (the media side learns it from the peer's ICE checks), rtcp_mux.
  std::optional<NegotiatedWebRtc> webrtc;
  std::optional<int> audio_level_ext_id;
  std::uint32_t local_ptime = 20;
  std::optional<std::uint32_t> remote_ptime;
  LocalMedia local;
};

struct OfferAnswerOutput {
  Session session;
  std::string sdp;  // session.serialize()
  Negotiated negotiated;
};

class OfferAnswer {
 public:
  explicit OfferAnswer(LocalCapabilities capabilities, RandomSource random = openssl_random());

  // Answerer role (RFC 3264 §6). An error only when the offer cannot be parsed
  // or random bytes are unavailable; an offer we cannot serve still gets an
  // answer (all streams port 0, negotiated.accepted == false) and the caller
  // decides between sending it and a 488.
  Result<OfferAnswerOutput> answer(std::string_view remote_offer, const LocalMedia& media,
                                   Direction wanted = Direction::kSendRecv);
  Result<OfferAnswerOutput> answer(const Session& remote_offer, const LocalMedia& media,
                                   Direction wanted = Direction::kSendRecv);

  // Offerer role (RFC 3264 §5). Remembers the offer until process_answer().
  Result<OfferAnswerOutput> create_offer(const LocalMedia& media,
                                         Direction wanted = Direction::kSendRecv);
  // An error when there is no pending offer or the answer breaks RFC 3264 §6
  // (different m= count, a crypto line we never offered, a codec we never
  // offered); a stream the peer refused gives accepted == false.
  Result<Negotiated> process_answer(std::string_view remote_answer);
  bool has_pending_offer() const { return pending_.has_value(); }
  // The request that carried our offer failed (491, 488, timeout): the offer
  // is void and the last negotiated session stands (RFC 3264 §8, RFC 3261
  // §14.1).
  void withdraw_offer() { pending_.reset(); }

  const LocalCapabilities& capabilities() const { return caps_; }
  std::uint64_t session_version() const { return version_; }

 private:
  struct PendingOffer {
    Session session;
    std::size_t audio_index = 0;
    LocalMedia media;
    Direction wanted = Direction::kSendRecv;
    std::vector<Crypto> cryptos;  // with OUR keys
  };

  Session base_session() const;
  void stamp_origin(Session& session);
  // The caller's key for `suite` if it gave a well-sized one, else a fresh one.
  std::optional<std::vector<std::uint8_t>> local_key(const LocalMedia& media, CryptoSuite suite);
  // `size` random ice-chars (6 bits each); nullopt without random bytes.
  std::optional<std::string> ice_chars(std::size_t size);

  LocalCapabilities caps_;
  RandomSource random_;
  std::string session_id_;
  std::uint64_t version_ = 0;
  std::string last_body_;  // last SDP sent, with version zeroed
  std::optional<PendingOffer> pending_;
  // The last accepted browser transport: a re-offer with the same ICE
  // credentials keeps our ufrag/pwd.
  std::optional<NegotiatedWebRtc> webrtc_;
};

}  // namespace chorus::sdp
