// The focus side of the media command contract (ARCHITECTURE.md "Media
// commands"): one path from a negotiated SDP to an acknowledged add for
// dial-in and dial-out alike, the completions that answer the INVITEs, and
// the engine's notifications (talkers, DTMF, RTP timeouts, statistics). Every
// command the focus submits is either refused on the spot or ends in one
// completion handled here. Refused, an add is answered 503; a participant or
// conference removal, a member's settings, remote address or SRTP keys (the
// latest of each, media_session.hpp), and the switch back after a cancelled
// re-INVITE's codec change are kept and offered again on every poll until
// the engine takes them, so what the focus reports as done reaches the
// shard. (Notices, prompts, music and statistics are not retried: a later
// one replaces them or nobody waits for them.)

#include <spdlog/spdlog.h>

#include "focus/ops/log.hpp"
#include "focus/rooms/media_setup.hpp"
#include "focus/server.hpp"

namespace chorus::focus {

namespace {

// How many engine events one poll handles; the rest wait for the next poll.
constexpr int kEventsPerPoll = 4096;

void set_jitter(mixer::Command& command, const Options& options) {
  command.stream.jitter.min_delay_ms = options.jitter_min_ms;
  command.stream.jitter.initial_delay_ms = options.jitter_initial_ms;
  command.stream.jitter.max_delay_ms = options.jitter_max_ms;
}

// The member's changes, each carrying the whole latest state of its kind:
// true when the engine took it.
bool submit_settings(mixer::MediaEngine& engine, const MediaLeg& media) {
  mixer::Command command;
  command.kind = mixer::Command::Kind::kUpdateParticipant;
  command.conference = media.conference;
  command.participant = media.participant;
  command.settings = media.settings;
  return engine.submit(std::move(command)).has_value();
}

bool submit_remote(mixer::MediaEngine& engine, const MediaLeg& media,
                   const UnsentMediaChanges::Remote& remote) {
  mixer::Command command;
  command.kind = mixer::Command::Kind::kSetRemote;
  command.conference = media.conference;
  command.participant = media.participant;
  command.has_remote = true;
  command.remote_rtp = remote.rtp;
  command.remote_rtcp = remote.rtcp;
  command.stream.signalled_ssrc = remote.signalled_ssrc;
  return engine.submit(std::move(command)).has_value();
}

bool submit_srtp(mixer::MediaEngine& engine, const MediaLeg& media, const rtp::SrtpKeys& keys) {
  mixer::Command command;
  command.kind = mixer::Command::Kind::kSetSrtp;
  command.conference = media.conference;
  command.participant = media.participant;
  command.has_srtp = true;
  command.srtp = keys;
  return engine.submit(std::move(command)).has_value();
}

bool submit_webrtc(mixer::MediaEngine& engine, const MediaLeg& media,
                   const rtp::WebRtcConfig& webrtc) {
  mixer::Command command;
  command.kind = mixer::Command::Kind::kSetWebRtc;
  command.conference = media.conference;
  command.participant = media.participant;
  command.stream.webrtc = webrtc;
  return engine.submit(std::move(command)).has_value();
}

// A kSetCodec switching the member's stream to `negotiated`; nullopt when
// the codec cannot be carried.
std::optional<mixer::Command> codec_command(const MediaLeg& media,
                                            const sdp::Negotiated& negotiated,
                                            const Options& options) {
  std::optional<mixer::Command> command = add_command(negotiated, options.rtp_timeout);
  if (!command) return std::nullopt;
  command->kind = mixer::Command::Kind::kSetCodec;
  command->conference = media.conference;
  command->participant = media.participant;
  command->settings = media.settings;
  set_jitter(*command, options);
  return command;
}

// The focus's record goes back to the format the shard holds (a switch back
// that is superseded or cannot be built).
void hold_shard_format(MediaLeg& media) {
  if (!media.previous_format) return;
  media.codec = media.previous_format->codec.encoding;
  media.clock_rate = media.previous_format->codec.clock_rate;
  media.format = std::move(media.previous_format);
  media.previous_format.reset();
}

// The engine took a change of one kind (`field` of UnsentMediaChanges): a
// refused older one of that kind is moot.
template <class Field>
void settle(std::unordered_map<mixer::ParticipantId, UnsentMediaChanges>& unsent,
            mixer::ParticipantId participant, Field UnsentMediaChanges::*field) {
  const auto it = unsent.find(participant);
  if (it == unsent.end()) return;
  it->second.*field = Field{};
  if (it->second.empty()) unsent.erase(it);
}

}  // namespace

Server::MediaStart Server::start_media(std::unique_ptr<Call>& owned,
                                       const sdp::OfferAnswerOutput& output,
                                       const sdp::Negotiated& chosen) {
  Call& call = *owned;
  std::optional<mixer::Command> command = add_command(chosen, options_.rtp_timeout);
  if (!command) return MediaStart::kUnsupported;
  MediaLeg& media = call.media;
  media.local_session = output.session;
  if (chosen.srtp) {
    media.srtp_keys = {sdp::LocalKey{chosen.srtp->suite, chosen.srtp->local_key_salt}};
    media.remote_srtp_key = chosen.srtp->remote_key_salt;
  }
  media.media_index = chosen.media_index;
  media.rtcp_mux = chosen.rtcp_mux;
  media.codec = chosen.codec.encoding;
  media.clock_rate = chosen.codec.clock_rate;
  media.format = chosen;
  // The SDP direction is the member's hold; the room's decisions (parked,
  // a service dial-out's music, a Replaces' mute) combine with it.
  const bool muted = media.settings.muted;
  media.peer_hold = command->settings.hold;
  media.settings = command->settings;
  media.settings.hold = call.effective_hold();
  media.settings.muted = muted;
  if (call.roster.awaiting_pin) {
    // Until the PIN is right the caller neither hears nor is heard.
    media.settings.muted = true;
    media.settings.deaf = true;
  }
  bool created = false;
  Room& room = rooms_.open(call.room(), &created);
  media.conference = room.conference();
  media.participant = rooms_.next_participant();
  media.settings.label = call.member();
  media.settings.role = to_mixer_role(call.roster.role);
  media.settings.whisper_targets.clear();
  if (call.roster.role == MemberRole::kWhisper) {
    if (const Call* target = room.find_member(call.roster.whisper_target)) {
      media.settings.whisper_targets.push_back(target->media.participant);
    }
  }
  // Dialled a sidebar's URI or joined one of its members: in it from the
  // first tick.
  const bool joined_sidebar =
      call.roster.join_sidebar != 0 && room.join_sidebar(call.roster.join_sidebar, call.member());
  room.sidebar_settings(call.member(), media.settings);
  media.settings.sidebar_opus_bandwidth =
      mixer::opus_bandwidth_from_name(options_.sidebar_opus_bandwidth)
          .value_or(mixer::OpusBandwidth::kWide);
  media.settings.sidebar_opus_complexity = options_.sidebar_opus_complexity;
  command->settings = media.settings;
  command->conference = media.conference;
  command->participant = media.participant;
  set_jitter(*command, options_);
  const std::optional<mixer::CommandId> id = engine_->submit(std::move(*command));
  if (!id) {
    LogContext context(call.id().call_id, call.room());
    spdlog::warn("media engine pushed back (ring and retry queue busy): 503");
    ++joins_refused_busy_;
    if (joined_sidebar && room.count_member(call.member()) == 0) room.leave_sidebar(call.member());
    media.participant = 0;
    close_room_if_empty(call.room());
    return MediaStart::kBusy;
  }
  media.pending_add = *id;
  rooms_.adopt(std::move(owned));
  if (created && !options_.moh_file.empty()) {
    mixer::Command music;
    music.kind = mixer::Command::Kind::kSetMusic;
    music.conference = media.conference;
    music.music_file = options_.moh_file;
    if (!engine_->submit(std::move(music))) ++media_commands_failed_;
  }
  schedule_poll();
  return MediaStart::kQueued;
}

void Server::remove_media(Call& call) {
  if (call.media.participant == 0) return;
  unsent_changes_.erase(call.media.participant);  // nothing to change on a member that goes
  submit_remove(call.media.conference, call.media.participant);
}

void Server::submit_remove(mixer::ConferenceId conference, mixer::ParticipantId participant) {
  mixer::Command command;
  command.kind = mixer::Command::Kind::kRemoveParticipant;
  command.conference = conference;
  command.participant = participant;
  if (engine_->submit(std::move(command))) {
    ++removes_in_flight_;
  } else {
    // The engine's retry queue is full: keep it and try again next poll.
    unsent_removes_.emplace_back(conference, participant);
  }
  schedule_poll();
}

void Server::close_room_if_empty(const std::string& room) {
  // A member on its way in (a move the shard has not confirmed) keeps the
  // room: closing it would remove the conference under that member.
  if (move_pending_into(room)) return;
  std::shared_ptr<mixer::RecordingBuffer> recording;
  if (Room* open = rooms_.find(room); open != nullptr && open->empty()) {
    recording = open->recording().buffer;
  }
  const mixer::ConferenceId conference = rooms_.close_if_empty(room);
  if (conference == 0) return;
  // The removal closes a recording's ring on the shard; refused, the ring is
  // closed from here at once so the writer finishes the files (nobody talks
  // any more; the shard's tap stops feeding a closed recording).
  if (!submit_conference_remove(conference) && recording) recording->close();
}

bool Server::submit_conference_remove(mixer::ConferenceId conference) {
  mixer::Command command;
  command.kind = mixer::Command::Kind::kRemoveConference;
  command.conference = conference;
  if (engine_->submit(std::move(command))) {
    // Polled for until it completes: the room may have had the last call, and
    // a command waiting in the engine's retry queue goes out only on a poll.
    ++removes_in_flight_;
    schedule_poll();
    return true;
  }
  // Kept and retried: only this command frees the shard's room (an empty
  // one too) and the engine's placement of the conference.
  unsent_conference_removes_.push_back(conference);
  schedule_poll();
  return false;
}

void Server::apply_settings(Call& call) {
  call.media.settings.role = to_mixer_role(call.roster.role);
  call.media.settings.whisper_targets.clear();
  if (call.roster.role == MemberRole::kWhisper) {
    if (const Call* target = find_member(call.room(), call.roster.whisper_target)) {
      call.media.settings.whisper_targets.push_back(target->media.participant);
    }
  }
  if (call.media.pending_move != 0) {
    // Moving: the settings go to room B's conference (start_move), where
    // room A's sidebars mean nothing; on_move_completion applies B's.
    const mixer::ParticipantSettings defaults;
    call.media.settings.sidebar = 0;
    call.media.settings.sidebar_main_gain = defaults.sidebar_main_gain;
    call.media.settings.sidebar_whisper_main = defaults.sidebar_whisper_main;
  } else if (const Room* room = rooms_.find(call.room())) {
    room->sidebar_settings(call.member(), call.media.settings);
  }
  if (call.media.participant == 0) return;
  const mixer::ParticipantId participant = call.media.participant;
  if (submit_settings(*engine_, call.media)) {
    settle(unsent_changes_, participant, &UnsentMediaChanges::settings);
    return;
  }
  {
    LogContext context(call.id().call_id, call.room());
    spdlog::warn("media engine busy: settings of member {} kept for a retry", call.member());
  }
  unsent_changes_[participant].settings = true;
  schedule_poll();
}

void Server::set_remote(const Call& call, const sdp::Negotiated& negotiated) {
  // c=0.0.0.0 (RFC 3264 §8.4, old-style hold) or port 0: keep the old peer.
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(negotiated.remote_address, error);
  if (error || address.is_unspecified() || negotiated.remote_rtp_port == 0) return;
  UnsentMediaChanges::Remote remote;
  remote.rtp = {address, negotiated.remote_rtp_port};
  const auto rtcp_address = boost::asio::ip::make_address(negotiated.remote_rtcp_address, error);
  remote.rtcp = {error ? address : rtcp_address, negotiated.remote_rtcp_port};
  remote.signalled_ssrc = negotiated.remote_ssrc;  // a re-offer may change a=ssrc
  const mixer::ParticipantId participant = call.media.participant;
  if (submit_remote(*engine_, call.media, remote)) {
    settle(unsent_changes_, participant, &UnsentMediaChanges::remote);
    return;
  }
  if (participant == 0) return;  // no member on the shard: nothing to point
  unsent_changes_[participant].remote = remote;
  schedule_poll();
}

void Server::update_srtp(Call& call, const sdp::Negotiated& negotiated) {
  // RFC 4568 §7.1.4: a re-offer may bring a new key (or drop SRTP).
  const std::vector<uint8_t> remote =
      negotiated.srtp ? negotiated.srtp->remote_key_salt : std::vector<uint8_t>{};
  if (remote == call.media.remote_srtp_key) return;
  const auto keys = srtp_keys(negotiated);
  if (!keys) return;
  const mixer::ParticipantId participant = call.media.participant;
  if (submit_srtp(*engine_, call.media, *keys)) {
    settle(unsent_changes_, participant, &UnsentMediaChanges::srtp);
  } else if (participant != 0) {
    // The answer already carries our side of the new keys: they are the
    // call's from now on, and reach the shard on a later poll.
    unsent_changes_[participant].srtp = *keys;
    schedule_poll();
  }
  call.media.remote_srtp_key = remote;
  if (negotiated.srtp) {
    call.media.srtp_keys = {
        sdp::LocalKey{negotiated.srtp->suite, negotiated.srtp->local_key_salt}};
  } else {
    call.media.srtp_keys.clear();
  }
}

void Server::set_webrtc(const Call& call, const rtp::WebRtcConfig& webrtc) {
  const mixer::ParticipantId participant = call.media.participant;
  if (submit_webrtc(*engine_, call.media, webrtc)) {
    settle(unsent_changes_, participant, &UnsentMediaChanges::webrtc);
    return;
  }
  {
    LogContext context(call.id().call_id, call.room());
    spdlog::warn("media engine busy: the browser re-offer of member {} kept for a retry",
                 call.member());
  }
  unsent_changes_[participant].webrtc = webrtc;
  schedule_poll();
}

std::optional<mixer::CommandId> Server::change_codec(Call& call,
                                                     const sdp::Negotiated& negotiated) {
  if (codec_back_unsent(call)) {
    // This negotiation supersedes the switch back still waiting for the
    // engine: compared with what the shard holds, the cancelled format.
    hold_shard_format(call.media);
    settle(unsent_changes_, call.media.participant, &UnsentMediaChanges::codec);
  }
  if (sip::iequals(negotiated.codec.encoding, call.media.codec) &&
      negotiated.codec.clock_rate == call.media.clock_rate) {
    return 0;
  }
  std::optional<mixer::Command> command = codec_command(call.media, negotiated, options_);
  if (!command) return std::nullopt;
  const std::optional<mixer::CommandId> id = engine_->submit(std::move(*command));
  if (!id) {
    ++media_commands_failed_;
    return std::nullopt;
  }
  call.media.pending_codec = *id;
  call.media.codec = negotiated.codec.encoding;
  call.media.clock_rate = negotiated.codec.clock_rate;
  call.media.previous_format = std::exchange(call.media.format, negotiated);
  return *id;
}

void Server::on_codec_result(Call& call, bool ok) {
  MediaLeg& media = call.media;
  if (media.codec_revert) {
    // The switch back after a cancelled re-INVITE (undo_cancelled_codec).
    media.codec_revert = false;
    std::optional<sdp::Negotiated> kept = std::move(media.previous_format);
    media.previous_format.reset();
    if (ok || !kept) return;
    // The shard stays on the cancelled codec: the focus says so rather
    // than end a call whose peer did nothing wrong.
    LogContext context(call.id().call_id, call.room());
    spdlog::warn("member {}: the shard could not switch back to {}/{}; it keeps {}/{}",
                 call.member(), media.codec, media.clock_rate, kept->codec.encoding,
                 kept->codec.clock_rate);
    media.codec = kept->codec.encoding;
    media.clock_rate = kept->codec.clock_rate;
    media.format = std::move(kept);
    return;
  }
  std::optional<sip::ServerTransaction> reoffer = std::move(call.sip.pending_reoffer);
  call.sip.pending_reoffer.reset();
  std::optional<sdp::Negotiated> negotiated = std::move(media.pending_negotiated);
  media.pending_negotiated.reset();
  if (call.sip.reoffer_cancelled) {
    call.sip.reoffer_cancelled = false;
    undo_cancelled_codec(call, ok);
    return;
  }
  if (ok) {
    media.previous_offer_answer.reset();
    media.previous_format.reset();
    if (negotiated) apply_reoffer(call, *negotiated);
    if (reoffer) answer_reoffer(call, *reoffer);
    return;
  }
  {
    LogContext context(call.id().call_id, call.room());
    spdlog::warn("the shard refused the codec change to {}/{}; keeping {}/{}", media.codec,
                 media.clock_rate, media.previous_codec, media.previous_clock_rate);
  }
  // The shard kept the stream as it was.
  media.format = std::move(media.previous_format);
  media.previous_format.reset();
  if (!reoffer) {
    // The answer in an ACK named a codec the shard cannot take: the session
    // cannot go on (the 2xx offer is already accepted).
    end_call(sip::DialogId(call.id()), /*send_bye=*/true);
    return;
  }
  // RFC 3264 §8.3.2 / RFC 3261 §14.2: refuse the re-offer, keep the old
  // session as it was (codec, keys, address, direction).
  if (media.previous_offer_answer) media.offer_answer = std::move(*media.previous_offer_answer);
  media.previous_offer_answer.reset();
  media.codec = media.previous_codec;
  media.clock_rate = media.previous_clock_rate;
  media.local_sdp = media.previous_local_sdp;
  sip::Dialog* dialog = dialogs_.find(call.id());
  if (dialog == nullptr) return;
  sip::Message response = session_response(call, *dialog, reoffer->request(), 488);
  response.add_header("Warning", warning_304("The mixer cannot take the new codec"));
  reoffer->respond(std::move(response));
}

void Server::undo_cancelled_codec(Call& call, bool switched) {
  // RFC 3261 §9.2: the re-INVITE was answered 487, so its offer never took
  // effect: the old session stays (offer/answer state, our last answer,
  // codec), and its address, keys and direction are not applied.
  MediaLeg& media = call.media;
  if (media.previous_offer_answer) media.offer_answer = std::move(*media.previous_offer_answer);
  media.previous_offer_answer.reset();
  media.local_sdp = media.previous_local_sdp;
  std::optional<sdp::Negotiated> before = std::move(media.previous_format);
  media.previous_format.reset();
  const LogContext context(call.id().call_id, call.room());
  if (!switched) {
    // The shard kept the old codec: only the focus's view goes back.
    media.codec = media.previous_codec;
    media.clock_rate = media.previous_clock_rate;
    media.format = std::move(before);
    return;
  }
  // The shard decodes the cancelled codec now while the peer keeps sending
  // the old one: switch it back. change_codec compares with the codec the
  // focus holds, still the cancelled one here.
  const std::string cancelled = media.codec;
  const std::optional<mixer::CommandId> back =
      before ? change_codec(call, *before) : std::optional<mixer::CommandId>();
  if (back && *back != 0) {
    media.codec_revert = true;
    spdlog::info("member {}: re-INVITE cancelled; switching the shard back from {} to {}",
                 call.member(), cancelled, media.codec);
    return;
  }
  if (!back && before && media.participant != 0 &&
      codec_command(media, *before, options_).has_value()) {
    // The engine refused it (its retry queue is full): kept and offered
    // again on every poll, as any refused change (retry_unsent). The focus
    // holds the old format as the one wanted, as the peer does; the
    // cancelled one, in previous_format, is what the shard keeps if it
    // fails the switch (on_codec_result).
    media.previous_format = std::exchange(media.format, std::move(before));
    media.codec = media.format->codec.encoding;
    media.clock_rate = media.format->codec.clock_rate;
    unsent_changes_[media.participant].codec = true;
    spdlog::warn("member {}: re-INVITE cancelled; the switch back from {} to {} kept for a retry",
                 call.member(), cancelled, media.codec);
    schedule_poll();
    return;
  }
  // Not now: the focus keeps holding what the shard holds, so the next
  // offer or answer that names the old codec switches it back.
  spdlog::warn("member {}: re-INVITE cancelled, but the shard could not be switched back to {}",
               call.member(), media.previous_codec);
}

bool Server::resubmit_codec_back(Call& call) {
  MediaLeg& media = call.media;
  std::optional<mixer::Command> command =
      media.format ? codec_command(media, *media.format, options_) : std::nullopt;
  if (!command) {
    hold_shard_format(media);  // nothing to switch to: the shard's format stays
    return true;
  }
  const std::optional<mixer::CommandId> id = engine_->submit(std::move(*command));
  if (!id) return false;
  media.pending_codec = *id;
  media.codec_revert = true;  // its completion: on_codec_result
  const LogContext context(call.id().call_id, call.room());
  spdlog::info("member {}: switching the shard back to {} after a cancelled re-INVITE",
               call.member(), media.codec);
  return true;
}

bool Server::codec_back_unsent(const Call& call) const {
  const auto it = unsent_changes_.find(call.media.participant);
  return call.media.participant != 0 && it != unsent_changes_.end() && it->second.codec;
}

void Server::schedule_poll() {
  if (polling_) return;
  polling_ = true;
  poll_timer_.expires_after(std::chrono::milliseconds(5));
  poll_timer_.async_wait([this](const boost::system::error_code& error) {
    // Aborted by stop(), it may run after the Server is gone (a reused
    // io_context): it must not touch it.
    if (error) return;
    polling_ = false;
    poll_engine();
    // Once a second every member's RFC 3550 figures and drop counters
    // (kStats): the admin API's loss/jitter and /metrics.
    if (++polls_since_stats_ >= 200) {
      polls_since_stats_ = 0;
      if (rooms_.call_count() != 0) {
        mixer::Command report;
        report.kind = mixer::Command::Kind::kReportStats;
        engine_->submit(std::move(report));  // refused: one report skipped
      }
    }
    // (unsent_changes_ belong to calls: call_count covers them.)
    if (rooms_.call_count() != 0 || removes_in_flight_ != 0 || !unsent_removes_.empty() ||
        !unsent_conference_removes_.empty()) {
      schedule_poll();
    }
  });
}

void Server::poll_engine() {
  if (!engine_started_) return;
  retry_unsent();
  mixer::Event event;
  for (int n = 0; n < kEventsPerPoll && engine_->poll(event); ++n) on_engine_event(event);
  poll_recorder();
}

void Server::retry_unsent() {
  if (!unsent_removes_.empty()) {
    std::vector<std::pair<mixer::ConferenceId, mixer::ParticipantId>> retry;
    retry.swap(unsent_removes_);
    for (const auto& [conference, participant] : retry) {
      ++media_removes_retried_;
      submit_remove(conference, participant);
    }
  }
  // After the participants' removals: a conference goes once its members did.
  if (!unsent_conference_removes_.empty()) {
    std::vector<mixer::ConferenceId> retry;
    retry.swap(unsent_conference_removes_);
    for (const mixer::ConferenceId conference : retry) {
      ++media_removes_retried_;
      submit_conference_remove(conference);
    }
  }
  // Each kind carries the latest state, to the conference the member is in
  // now (a move may have changed it since the refusal).
  for (auto it = unsent_changes_.begin(); it != unsent_changes_.end();) {
    UnsentMediaChanges& unsent = it->second;
    if (Call* call = rooms_.find_participant(it->first)) {
      if (unsent.settings && submit_settings(*engine_, call->media)) unsent.settings = false;
      if (unsent.remote && submit_remote(*engine_, call->media, *unsent.remote)) {
        unsent.remote.reset();
      }
      if (unsent.srtp && submit_srtp(*engine_, call->media, *unsent.srtp)) unsent.srtp.reset();
      if (unsent.webrtc && submit_webrtc(*engine_, call->media, *unsent.webrtc)) {
        unsent.webrtc.reset();
      }
      // (A newer codec change drops it first: change_codec.)
      if (unsent.codec && call->media.pending_codec == 0 && resubmit_codec_back(*call)) {
        unsent.codec = false;
      }
    } else {
      unsent = {};  // the call is gone (remove_media erases it first; kept safe)
    }
    it = unsent.empty() ? unsent_changes_.erase(it) : std::next(it);
  }
}

void Server::on_engine_event(const mixer::Event& event) {
  using Kind = mixer::Event::Kind;
  using Command = mixer::Command::Kind;
  if (event.kind == Kind::kDone || event.kind == Kind::kFailed) {
    const bool done = event.kind == Kind::kDone;
    switch (event.command) {
      case Command::kRemoveParticipant:
        if (removes_in_flight_ > 0) --removes_in_flight_;
        if (done) {
          media_totals_.on_closed(event.participant, event.stats);
        } else {
          media_totals_.forget(event.participant);  // never held a stream
        }
        return;
      case Command::kAddParticipant: {
        Call* call = rooms_.find_participant(event.participant);
        if (call == nullptr || call->media.pending_add != event.id) return;  // hung up since
        call->media.pending_add = 0;
        if (done) {
          on_media_added(*call, static_cast<uint16_t>(event.value));
        } else {
          {
            LogContext context(call->id().call_id, call->room());
            spdlog::warn("the shard could not add member {}: {}", call->member(),
                         mixer::failure_name(event.failure));
          }
          on_media_failed(*call);
        }
        return;
      }
      case Command::kSetCodec: {
        Call* call = rooms_.find_participant(event.participant);
        if (call == nullptr || call->media.pending_codec != event.id) return;
        call->media.pending_codec = 0;
        on_codec_result(*call, done);
        return;
      }
      case Command::kRemoveConference:
        if (removes_in_flight_ > 0) --removes_in_flight_;
        return;
      case Command::kReportStats:
      case Command::kSetSpan:
        return;
      case Command::kStartRecording:
      case Command::kStopRecording:
        on_recording_completion(event);
        return;
      case Command::kSetSrtp:
      case Command::kSetWebRtc:  // a browser's re-offer the shard could not apply
        if (done) return;
        ++media_commands_failed_;
        if (Call* call = rooms_.find_participant(event.participant)) {
          // Keys the shard cannot use: no audio could flow, end the call.
          LogContext context(call->id().call_id, call->room());
          spdlog::warn("the shard refused the SRTP keys of member {}: BYE", call->member());
          end_call(sip::DialogId(call->id()), /*send_bye=*/true);
        }
        return;
      case Command::kUpdateParticipant:
      case Command::kSetRemote:
      case Command::kSetMusic:
      case Command::kPlayNotice:
      case Command::kMoveParticipant:
        on_move_completion(event, done);
        return;
      case Command::kPlayPrompt:
        if (done) return;
        ++media_commands_failed_;
        if (const Call* call = rooms_.find_participant(event.participant)) {
          LogContext context(call->id().call_id, call->room());
          spdlog::warn("the shard refused a media change for member {}: {}", call->member(),
                       mixer::failure_name(event.failure));
        }
        return;
    }
    return;
  }
  Call* call = rooms_.find_participant(event.participant);
  if (call == nullptr) return;  // ended since: nothing to update, nothing kept
  switch (event.kind) {
    case Kind::kStats:
      media_totals_.on_stats(event.participant, event.stats);
      call->roster.loss_fraction = event.stats.fraction_lost / 256.0;
      call->roster.jitter_ms = event.stats.jitter_ms;
      call->roster.jitter_buffer_ms = event.stats.jitter_buffer_average_ms;
      call->roster.ssrc = event.stats.remote_ssrc;
      return;
    case Kind::kRtpTimeout:
      end_call(sip::DialogId(call->id()), /*send_bye=*/true);
      return;
    case Kind::kMediaEnded: {  // a browser member: consent expired, DTLS failed or closed
      LogContext context(call->id().call_id, call->room());
      spdlog::info("member {}: media ended ({}): BYE", call->member(),
                   rtp::media_end_reason_name(static_cast<rtp::MediaEndReason>(event.value)));
      end_call(sip::DialogId(call->id()), /*send_bye=*/true);
      return;
    }
    case Kind::kDtmf:
      on_dtmf(*call, static_cast<char>(event.value));
      return;
    case Kind::kStartedTalking:
    case Kind::kStoppedTalking:
      call->roster.talking = event.kind == Kind::kStartedTalking;
      if (call->roster.talking) call->roster.level = -static_cast<int>(event.value);
      publish(call->room(), ControlEvent::Kind::kTalker, call->member());
      return;
    case Kind::kLevel:
      call->roster.level = -static_cast<int>(event.value);
      return;
    case Kind::kDone:
    case Kind::kFailed:
      return;
  }
}

bool Server::mark_recorded(const Call& call, sdp::Session& answer, std::string_view offer) const {
  const Room* room = rooms_.room_of(call);
  const size_t index = call.media.media_index;
  if (room == nullptr || !room->recording().active || index >= answer.media.size()) return false;
  const auto parsed = sdp::Session::parse(offer);
  if (!parsed ||
      !(parsed->has_attribute("record") ||
        (index < parsed->media.size() && parsed->media[index].has_attribute("record")))) {
    return false;
  }
  if (answer.media[index].has_attribute("record")) return false;
  answer.media[index].attributes.push_back({"record", "on"});
  return true;
}

void Server::on_media_added(Call& call, uint16_t port) {
  if (call.media.rtp_port != 0) return;
  call.media.rtp_port = port;
  // The room's conference exists on its shard now: a configured
  // auto_record can start.
  Room* room = rooms_.room_of(call);
  if (room != nullptr) auto_record(*room);
  announce_join(call);
  // A shared media port (media.port_mode) takes RTCP on the RTP port even
  // from a peer that does not mux: a=rtcp says so (RFC 3605).
  set_local_port(call.media.local_session, call.media.media_index, port,
                 call.media.rtcp_mux || options_.media_port_mode == "shared");
  // (A recording that starts later is not signalled by re-INVITE; a
  // re-offer's answer says it, handle_reinvite.)
  if (call.sip.pending) {
    mark_recorded(call, call.media.local_session, call.sip.pending->request().body());
  }
  call.media.local_sdp = call.media.local_session.serialize();
  if (call.sip.outbound) {
    // A dial-out's 2xx carried the offer: our answer rides on the ACK.
    if (call.sip.ack) {
      call.sip.ack->set_body("application/sdp", call.media.local_sdp);
      stack_.send_ack(*call.sip.ack);
      sip::Dialog* dialog = dialogs_.find(call.id());
      if (sip::InviteSession* session = dialog ? invite_session(*dialog) : nullptr) {
        session->answered_in_ack();
      }
      publish(call.room(), ControlEvent::Kind::kMemberJoined, call.member());
    }
    return;
  }
  if (call.roster.waiting) {
    send_waiting_provisional(call);  // 183 with the SDP: the music starts
    return;
  }
  if (!call.sip.pending || !call.sip.ring_done) return;
  const sip::ServerTransaction invite = *call.sip.pending;
  call.sip.pending.reset();
  pending_invites_.erase(invite.id());
  if (call.sip.ringing) {
    pending_invites_.erase(call.sip.ringing->id());
    call.sip.ringing.reset();
  }
  answer_invite(call, invite);
}

void Server::on_media_failed(Call& call) {
  // §13.2.2.4: a dial-out's 2xx is always ACKed, even when the call ends.
  if (call.sip.outbound && call.sip.ack) stack_.send_ack(*call.sip.ack);
  if (call.sip.pending) {
    const sip::ServerTransaction invite = *call.sip.pending;
    call.sip.pending.reset();
    pending_invites_.erase(invite.id());
    reject_unavailable(invite);
  }
  end_call(sip::DialogId(call.id()), /*send_bye=*/call.sip.outbound);
}

}  // namespace chorus::focus
