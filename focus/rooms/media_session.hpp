#pragma once
// What focus/rooms/media_session.cpp keeps of a member's media changes the
// engine refused. The engine refuses a command (nullopt) when its shard's
// retry queue is at its limit; a change the focus dropped then would leave
// the shard doing what the focus and the admin API say it no longer does (a
// mute that does not mute, a re-INVITE's key that never arrives). So the
// latest wanted state of each kind is kept, and resubmitted on every poll
// until the engine takes it; a change taken since supersedes it.

#include <cstdint>
#include <optional>

#include "mixer/command.hpp"
#include "rtp/srtp.hpp"
#include "rtp/stream_config.hpp"
#include "signaling/asio.hpp"

namespace chorus::focus {

struct UnsentMediaChanges {
  // Where the member's media goes and its signalled SSRC (kSetRemote).
  struct Remote {
    boost::asio::ip::udp::endpoint rtp;
    boost::asio::ip::udp::endpoint rtcp;
    std::optional<uint32_t> signalled_ssrc;
  };

  // The call's MediaLeg::settings are not on the shard yet (they are the
  // latest wanted settings themselves, so only the fact is kept).
  bool settings = false;
  std::optional<Remote> remote;
  std::optional<rtp::SrtpKeys> srtp;
  // A browser's re-offer with an ICE restart or a new DTLS fingerprint
  // (kSetWebRtc): the answer already carries our side, so it must land.
  std::optional<rtp::WebRtcConfig> webrtc;
  // The switch back to the old codec after a CANCELled re-INVITE
  // (Server::undo_cancelled_codec): the call's MediaLeg::format is the
  // format wanted, MediaLeg::previous_format the cancelled one the shard
  // still decodes. Until it lands the peer's audio (the old codec) is
  // decoded as the cancelled one, so it must not be dropped.
  bool codec = false;

  bool empty() const { return !settings && !remote && !srtp && !webrtc && !codec; }
};

}  // namespace chorus::focus
