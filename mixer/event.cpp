#include "mixer/event.hpp"

namespace chorus::mixer {

std::string_view failure_name(Failure failure) {
  switch (failure) {
    case Failure::kNone:
      return "none";
    case Failure::kUnknownConference:
      return "unknown-conference";
    case Failure::kUnknownParticipant:
      return "unknown-participant";
    case Failure::kDuplicate:
      return "duplicate";
    case Failure::kCodec:
      return "codec";
    case Failure::kNoPort:
      return "no-port";
    case Failure::kBadKeys:
      return "bad-keys";
    case Failure::kCancelled:
      return "cancelled";
    case Failure::kShuttingDown:
      return "shutting-down";
    case Failure::kNoMusic:
      return "no-music";
    case Failure::kInvalid:
      return "invalid";
    case Failure::kNoWebRtc:
      return "no-webrtc";
  }
  return "unknown";
}

}  // namespace chorus::mixer
