#pragma once
// What the engine builds on the signalling thread for a command, so the
// shard's tick only adopts objects (pointer moves, an epoll registration):
// ARCHITECTURE.md "Media commands".
//
//   kAddParticipant  decoder, in-band DTMF detector (only without RFC 4733),
//                    the member's mix slot and the shared encoders it would
//                    join (the conference adopts those it lacks), the rtp::Stream with its sockets
//                    bound (port from the engine's pool for that shard), and
//                    the conference's music
//   kSetCodec        decoder, in-band DTMF detector, mix slot, shared
//                    encoders, music
//   (any of these, and kRemoveParticipant, when it changes the conference's
//   rate: the other members' resamplers at the new rate, rates)
//   kSetMusic        music (every conference rate)
//   kPlayPrompt      the prompt's clips (music, every conference rate)
//   kSetSpan         music (a spanning part may be created by it)
//   kMoveParticipant a mix slot at the target's rate (used when the member's
//                    own slot runs at another rate), the shared encoders the
//                    target lacks (groups), those the source needs once the
//                    member left (leave_groups), the target's music
//
// Owned by the command; moved through the ring with it. Whatever the shard
// does not adopt (a cancelled or failed add) is freed on the shard thread at
// the tick boundary when the command is dropped there (the stream's sockets
// close then; its port goes back to the pool when the engine sees the add's
// kFailed), or on the signalling thread for commands that never reached the
// shard (refused, failed before the ring, or left over at stop()).

#include <memory>
#include <optional>

#include "mixer/codec.hpp"
#include "mixer/command.hpp"
#include "mixer/dtmf_detector.hpp"
#include "mixer/moh_source.hpp"
#include "mixer/participant.hpp"
#include "mixer/shared_encoder.hpp"
#include "rtp/stream.hpp"

namespace chorus::mixer {

struct Prepared {
  std::unique_ptr<Decoder> decoder;
  std::unique_ptr<DtmfDetector> inband_dtmf;
  std::optional<Participant> slot;
  PreparedGroups groups;  // the shared encoders the slot would join
  PreparedGroups leave_groups;  // kMoveParticipant: what the source conference needs after
  // When the command changes the conference's rate: the other members'
  // resamplers at the new rate (Conference::offer_rates); leave_rates for
  // the source conference of a move.
  PreparedRates rates;
  PreparedRates leave_rates;
  std::unique_ptr<rtp::Stream> stream;
  // kSetCodec: the stream's jitter buffer for the new codec (swapped in by
  // the shard; the old one leaves with the command).
  std::optional<rtp::JitterBuffer> jitter;
  std::shared_ptr<const MusicClips> music;
};

inline PreparedPtr make_prepared() {
  return PreparedPtr(new Prepared);
}

}  // namespace chorus::mixer
