// The focus against a fake media engine (tests/focus/fake_media_engine.hpp):
// real SIP exchanges on 127.0.0.1, no media sockets, no shard threads. Each
// test checks the messages on the wire, the commands the focus submitted
// (kind, participant, settings) and that nothing is left behind once the
// calls end: calls, rooms, dialogs, media-total entries and the engine's
// participants all return to zero.

#include <memory>

#include "focus/rooms/media_setup.hpp"
#include "signaling/message/header_params.hpp"
#include "tests/focus/e2e_support.hpp"
#include "tests/focus/fake_media_engine.hpp"

namespace chorus::focus::e2e {
namespace {

using Fake = focus::testing::FakeMediaEngine;
using Kind = mixer::Command::Kind;

class FocusCore : public FocusE2e {
 protected:
  void start(const std::function<void(Options&)>& tweak = {}) {
    auto engine = std::make_unique<Fake>();
    fake_ = engine.get();
    start_server_with_engine(std::move(engine), tweak);
  }

  // Runs the io and lets the server drain the fake's events.
  void settle(std::chrono::milliseconds time = 50ms) {
    const auto end = std::chrono::steady_clock::now() + time;
    while (std::chrono::steady_clock::now() < end) {
      io_.run_for(5ms);
      server_->poll_media();
    }
  }

  // Everything the focus held for calls is gone, and so is every
  // participant on the (fake) media side.
  void expect_baseline() {
    settle();
    const FocusGauges g = server_->gauges();
    EXPECT_EQ(g.calls, 0u);
    EXPECT_EQ(g.rooms, 0u);
    EXPECT_EQ(g.dialing, 0u);
    EXPECT_EQ(g.media_totals_entries, 0u);
    EXPECT_EQ(g.unsent_removes, 0u);
    EXPECT_EQ(g.unsent_changes, 0u);
    EXPECT_EQ(g.removes_in_flight, 0u);
    EXPECT_EQ(fake_->members(), 0u);
    EXPECT_TRUE(fake_->pending_ids().empty());
  }

  // INVITE without waiting: the final response arrives later.
  void send_invite(Caller& caller, std::string_view room, std::optional<Message>& final,
                   std::vector<int>& statuses, std::string_view direction = "sendrecv") {
    Message m = request(caller, Method::kInvite, room);
    m.set_body("application/sdp", caller.sdp(direction));
    last_invite_ = m;
    invite_tx_ = client_.send_request(std::move(m), focus_, [&](const ClientEvent& event) {
      if (!event.response) return;
      statuses.push_back(event.response->status());
      if (event.response->status() >= 200) final = *event.response;
    });
  }

  // `caller` (in room "codec", PCMU) re-INVITEs to PCMA with `direction`
  // while the media side holds every completion, and CANCELs it once the
  // shard was told to switch and the focus sent 100 Trying (§9.1: CANCEL
  // needs a provisional): the re-INVITE ends 487. `statuses`: all it got.
  void cancelled_codec_change(Caller& caller, std::string_view direction,
                              std::vector<int>& statuses) {
    fake_->auto_complete = false;
    caller.use_pcma(true);
    std::optional<Message>& final = cancelled_final_;
    send_invite(caller, "codec", final, statuses, direction);
    run_until([&] { return fake_->count(Kind::kSetCodec) == 1; });
    ASSERT_EQ(fake_->count(Kind::kSetCodec), 1u);
    EXPECT_EQ(fake_->last(Kind::kSetCodec)->codec.id, mixer::CodecId::kPcma);
    run_until([&] { return std::count(statuses.begin(), statuses.end(), 100) > 0; });
    ASSERT_NE(client_.cancel(invite_tx_), 0u);
    run_until([&] { return final.has_value(); });
    ASSERT_TRUE(final.has_value());
    EXPECT_EQ(final->status(), 487);
  }

  Fake* fake_ = nullptr;
  std::optional<Message> cancelled_final_;  // outlives the client's callback
  std::optional<Message> last_invite_;
  sip::TransactionId invite_tx_ = 0;
};

TEST_F(FocusCore, JoinAnswersWithThePortTheAddCompletionReportsAndLeaveRemovesIt) {
  start();
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "core"), 200);
  // One add, for PCMU, naming a participant; the 200 carried its port.
  ASSERT_EQ(fake_->count(Kind::kAddParticipant), 1u);
  const Fake::Submitted add = *fake_->last(Kind::kAddParticipant);
  EXPECT_EQ(add.codec.id, mixer::CodecId::kPcmu);
  EXPECT_EQ(add.payload_type, 0);
  EXPECT_NE(add.participant, 0u);
  EXPECT_TRUE(add.has_remote);
  EXPECT_EQ(alice.mixer_port, 40000);
  EXPECT_TRUE(fake_->holds(add.participant));
  EXPECT_EQ(server_->gauges().calls, 1u);
  EXPECT_EQ(bye(alice, "core"), 200);
  settle();
  const Fake::Submitted* remove = fake_->last(Kind::kRemoveParticipant);
  ASSERT_NE(remove, nullptr);
  EXPECT_EQ(remove->participant, add.participant);
  EXPECT_EQ(fake_->count(Kind::kRemoveConference), 1u);  // the room went with its last call
  expect_baseline();
}

TEST_F(FocusCore, StatisticsEntriesLeaveWithTheirCall) {
  start();
  Caller alice(440, "alice");
  Caller bob(550, "bob");
  ASSERT_EQ(invite(alice, "sendrecv", "stats"), 200);
  ASSERT_EQ(invite(bob, "sendrecv", "stats"), 200);
  // One report a second: wait for it to land in the totals.
  run_until([&] {
    server_->poll_media();
    return server_->gauges().media_totals_entries == 2;
  });
  EXPECT_EQ(server_->gauges().media_totals_entries, 2u);
  EXPECT_EQ(bye(alice, "stats"), 200);
  EXPECT_EQ(bye(bob, "stats"), 200);
  expect_baseline();
  // The final counters of both removals are kept in the totals.
  EXPECT_GE(server_->media_totals().totals().packets_received, 100u);
}

TEST_F(FocusCore, CancelWhileTheAddIsPendingEndsTheCallAndLeavesNothing) {
  start();
  fake_->auto_complete = false;
  Caller alice(440, "alice");
  std::optional<Message> final;
  std::vector<int> statuses;
  send_invite(alice, "pending", final, statuses);
  run_until([&] { return fake_->count(Kind::kAddParticipant) == 1; });
  ASSERT_EQ(fake_->count(Kind::kAddParticipant), 1u);
  // RFC 3261 §9.1: CANCEL needs a provisional; the focus sent 100 Trying.
  run_until([&] { return std::count(statuses.begin(), statuses.end(), 100) > 0; });
  ASSERT_NE(client_.cancel(invite_tx_), 0u);
  run_until([&] { return final.has_value(); });
  ASSERT_TRUE(final.has_value());
  EXPECT_EQ(final->status(), 487);
  settle();
  // The removal was submitted behind the add; the shard answers both.
  EXPECT_EQ(fake_->count(Kind::kRemoveParticipant), 1u);
  EXPECT_EQ(server_->gauges().calls, 0u);
  fake_->complete_all();
  expect_baseline();
  // No 200 ever went out for the cancelled call.
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), 0);
}

TEST_F(FocusCore, AFailedAddIsAnswered503AndLeavesNothing) {
  start();
  fake_->auto_complete = false;
  Caller alice(440, "alice");
  std::optional<Message> final;
  std::vector<int> statuses;
  send_invite(alice, "fail", final, statuses);
  run_until([&] { return fake_->count(Kind::kAddParticipant) == 1; });
  fake_->fail(fake_->last(Kind::kAddParticipant)->id, mixer::Failure::kNoPort);
  run_until([&] {
    server_->poll_media();
    return final.has_value();
  });
  ASSERT_TRUE(final.has_value());
  EXPECT_EQ(final->status(), 503);
  EXPECT_TRUE(final->header("Retry-After").has_value());
  fake_->complete_all();
  expect_baseline();
}

TEST_F(FocusCore, BackPressureOnAnAddIsAnswered503WithRetryAfter) {
  start();
  fake_->refuse_adds = true;
  Caller alice(440, "alice");
  EXPECT_EQ(invite(alice, "sendrecv", "busy"), 503);
  EXPECT_EQ(server_->gauges().joins_refused_busy, 1u);
  expect_baseline();
  // Once the engine takes adds again, the same room works.
  fake_->refuse_adds = false;
  Caller bob(550, "bob");
  EXPECT_EQ(invite(bob, "sendrecv", "busy"), 200);
  EXPECT_EQ(bye(bob, "busy"), 200);
  expect_baseline();
}

TEST_F(FocusCore, ARefusedRemovalIsRetriedUntilTheEngineTakesIt) {
  start();
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "retry"), 200);
  const mixer::ConferenceId conference = fake_->last(Kind::kAddParticipant)->conference;
  fake_->refuse_all = true;
  EXPECT_EQ(bye(alice, "retry"), 200);
  settle();
  EXPECT_EQ(server_->gauges().unsent_removes, 1u);
  EXPECT_EQ(fake_->members(), 1u);  // still held: nothing was lost, only delayed
  EXPECT_EQ(fake_->count(Kind::kRemoveConference), 0u);
  fake_->refuse_all = false;
  settle(100ms);
  EXPECT_GE(server_->gauges().media_removes_retried, 1u);
  // The room went too: only its removal frees the shard's room and the
  // engine's placement. Once, behind the member's removal.
  ASSERT_EQ(fake_->count(Kind::kRemoveConference), 1u);
  EXPECT_EQ(fake_->last(Kind::kRemoveConference)->conference, conference);
  EXPECT_GT(fake_->last(Kind::kRemoveConference)->id, fake_->last(Kind::kRemoveParticipant)->id);
  expect_baseline();
  EXPECT_EQ(fake_->count(Kind::kRemoveConference), 1u);
}

// The fake engine, refusing conference removals while `refuse` (a shard whose
// retry queue is at its limit just when a room's last call leaves).
class RefusingConferenceRemovals final : public mixer::MediaEngine {
 public:
  explicit RefusingConferenceRemovals(std::unique_ptr<Fake> fake) : fake_(std::move(fake)) {}
  bool refuse = false;
  void start() override { fake_->start(); }
  void stop() override { fake_->stop(); }
  std::optional<mixer::CommandId> submit(mixer::Command command) override {
    if (refuse && command.kind == Kind::kRemoveConference) return std::nullopt;
    return fake_->submit(std::move(command));
  }
  bool poll(mixer::Event& event) override { return fake_->poll(event); }
  size_t shard_count() const override { return fake_->shard_count(); }
  mixer::ShardStatus shard_status(size_t index) const override {
    return fake_->shard_status(index);
  }

 private:
  std::unique_ptr<Fake> fake_;
};

TEST_F(FocusCore, ARefusedConferenceRemovalIsRetriedAfterTheLastCallIsGone) {
  auto fake = std::make_unique<Fake>();
  fake_ = fake.get();
  auto engine = std::make_unique<RefusingConferenceRemovals>(std::move(fake));
  RefusingConferenceRemovals& gate = *engine;
  start_server_with_engine(std::move(engine));
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "gone"), 200);
  gate.refuse = true;
  EXPECT_EQ(bye(alice, "gone"), 200);
  settle();
  // The member's removal went through; nothing else keeps the focus polling.
  EXPECT_EQ(fake_->count(Kind::kRemoveParticipant), 1u);
  EXPECT_EQ(server_->gauges().calls, 0u);
  EXPECT_EQ(server_->gauges().removes_in_flight, 0u);
  EXPECT_EQ(fake_->count(Kind::kRemoveConference), 0u);
  gate.refuse = false;
  // Only the focus's own poll timer runs now (no poll_media() from here).
  run_until([&] { return fake_->count(Kind::kRemoveConference) > 0; });
  EXPECT_EQ(fake_->count(Kind::kRemoveConference), 1u);
  expect_baseline();
  EXPECT_EQ(fake_->count(Kind::kRemoveConference), 1u);
}

// The admin API answers 200 for a mute, a re-INVITE 200 for a new address:
// the engine refusing the change then (its retry queue full) must not leave
// the member heard or its media going to the old address.
TEST_F(FocusCore, RefusedSettingsAndAddressChangesReachTheEngineOnceItTakesThem) {
  start();
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "later"), 200);
  const uint64_t member = id_of("later", alice);
  fake_->refuse_all = true;
  ASSERT_EQ(server_->set_muted("later", member, true).status, 200);
  // RFC 3264 §8.3.1: a re-offer with another port moves the media there.
  std::string moved = alice.sdp("sendrecv");
  const size_t media = moved.find("m=audio ");
  ASSERT_NE(media, std::string::npos);
  const size_t port = media + std::string_view("m=audio ").size();
  moved.replace(port, moved.find(' ', port) - port, "47000");
  Message reinvite = request(alice, Method::kInvite, "later");
  reinvite.set_body("application/sdp", moved);
  const std::optional<Message> ok = exchange(std::move(reinvite));
  ASSERT_TRUE(ok.has_value());
  ASSERT_EQ(ok->status(), 200);
  ack(alice, *ok, "later");
  settle();
  const size_t updates = fake_->count(Kind::kUpdateParticipant);
  const size_t remotes = fake_->count(Kind::kSetRemote);
  fake_->refuse_all = false;
  settle();
  // The latest of each, once.
  ASSERT_EQ(fake_->count(Kind::kUpdateParticipant), updates + 1);
  EXPECT_TRUE(fake_->last(Kind::kUpdateParticipant)->settings.muted);
  ASSERT_EQ(fake_->count(Kind::kSetRemote), remotes + 1);
  EXPECT_EQ(fake_->last(Kind::kSetRemote)->remote_port, 47000);
  settle();
  EXPECT_EQ(fake_->count(Kind::kUpdateParticipant), updates + 1);
  EXPECT_EQ(fake_->count(Kind::kSetRemote), remotes + 1);
  EXPECT_EQ(bye(alice, "later"), 200);
  expect_baseline();
}

TEST_F(FocusCore, ARefusedChangeDoesNotOutliveItsCall) {
  start();
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "brief"), 200);
  fake_->refuse_all = true;
  ASSERT_EQ(server_->set_muted("brief", id_of("brief", alice), true).status, 200);
  EXPECT_EQ(bye(alice, "brief"), 200);
  const size_t updates = fake_->count(Kind::kUpdateParticipant);
  fake_->refuse_all = false;
  settle(100ms);
  // The removal is retried; the ended member's settings are not.
  EXPECT_EQ(fake_->count(Kind::kRemoveParticipant), 1u);
  EXPECT_EQ(fake_->count(Kind::kUpdateParticipant), updates);
  expect_baseline();
}

// The 488's Warning names the fault in a quoted-string (RFC 3261 §20.43).
TEST_F(FocusCore, A488WarningNamesTheFaultInAQuotedString) {
  start();
  Caller alice(440, "alice");
  std::string offer = alice.sdp("sendrecv");
  const size_t proto = offer.find("RTP/AVP");
  ASSERT_NE(proto, std::string::npos);
  offer.replace(proto, 7, "RTP/XYZ");
  Message m = request(alice, Method::kInvite, "quoted");
  m.set_body("application/sdp", offer);
  const std::optional<Message> refused = exchange(std::move(m));
  ASSERT_TRUE(refused.has_value());
  ASSERT_EQ(refused->status(), 488);
  const auto warning = refused->header("Warning");
  ASSERT_TRUE(warning.has_value());
  EXPECT_EQ(std::string(*warning),
            "304 chorus \"No usable audio stream: unsupported transport RTP/XYZ\"");
  expect_baseline();
}

// The SDP grammar keeps quotes out of what an offer can put in that text
// today (proto and format names are tokens); the Warning escapes them anyway
// (§25.1 quoted-pair), so no later reason can end the string early.
TEST(MediaSetup, AWarningEscapesQuotesAndBackslashes) {
  const std::string warning = warning_304("a \"b\" c\\d");
  EXPECT_EQ(warning, "304 chorus \"a \\\"b\\\" c\\\\d\"");
  EXPECT_EQ(sip::quoted_string_length(std::string_view(warning).substr(11)), warning.size() - 11);
  EXPECT_EQ(sip::unquote(std::string_view(warning).substr(11)), "a \"b\" c\\d");
}

TEST_F(FocusCore, HoldAndResumeBecomeSettingsUpdates) {
  start();
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "hold"), 200);
  // RFC 3264 §6.1 / §8.4: sendonly holds (the member takes no media: no
  // RTP to it, none of its audio mixed), sendrecv resumes.
  ASSERT_EQ(invite(alice, "sendonly", "hold"), 200);
  settle();
  const Fake::Submitted* update = fake_->last(Kind::kUpdateParticipant);
  ASSERT_NE(update, nullptr);
  EXPECT_EQ(update->settings.hold, mixer::HoldMode::kInactive);
  ASSERT_EQ(invite(alice, "inactive", "hold"), 200);
  EXPECT_EQ(fake_->last(Kind::kUpdateParticipant)->settings.hold, mixer::HoldMode::kInactive);
  ASSERT_EQ(invite(alice, "sendrecv", "hold"), 200);
  EXPECT_EQ(fake_->last(Kind::kUpdateParticipant)->settings.hold, mixer::HoldMode::kNone);
  EXPECT_EQ(fake_->count(Kind::kAddParticipant), 1u);  // same participant throughout
  EXPECT_EQ(bye(alice, "hold"), 200);
  expect_baseline();
}

TEST_F(FocusCore, ACodecChangeTheShardRefusesIsAnswered488AndTheOldCodecStays) {
  start();
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "codec"), 200);
  fake_->fail_codec_changes = true;
  alice.use_pcma(true);
  // RFC 3261 §14.2 / RFC 3264 §8.3.2: the re-offer is refused, the session stays.
  EXPECT_EQ(invite(alice, "sendrecv", "codec"), 488);
  ASSERT_EQ(fake_->count(Kind::kSetCodec), 1u);
  EXPECT_EQ(fake_->last(Kind::kSetCodec)->codec.id, mixer::CodecId::kPcma);
  const auto state = server_->room_state("codec");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->members.size(), 1u);
  EXPECT_EQ(state->members[0].codec, "PCMU");
  // An offer the shard takes is answered 200 once it confirms.
  fake_->fail_codec_changes = false;
  EXPECT_EQ(invite(alice, "sendrecv", "codec"), 200);
  EXPECT_EQ(server_->room_state("codec")->members[0].codec, "PCMA");
  EXPECT_EQ(bye(alice, "codec"), 200);
  expect_baseline();
}

// RFC 3261 §9.2: a re-INVITE CANCELled while the shard changes the codec
// is answered 487 and leaves the session as it was: the shard goes back to
// the old codec, the offer's hold never applies, the call goes on, and the
// next re-INVITE is answered.
TEST_F(FocusCore, ACancelledCodecChangeIsUndoneAndTheCallGoesOn) {
  start();
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "codec"), 200);
  settle();
  const size_t updates = fake_->count(Kind::kUpdateParticipant);
  std::vector<int> statuses;
  ASSERT_NO_FATAL_FAILURE(cancelled_codec_change(alice, "sendonly", statuses));

  // The shard takes the cancelled codec: the focus switches it back.
  fake_->complete(fake_->last(Kind::kSetCodec)->id);
  settle();
  ASSERT_EQ(fake_->count(Kind::kSetCodec), 2u);
  EXPECT_EQ(fake_->last(Kind::kSetCodec)->codec.id, mixer::CodecId::kPcmu);
  EXPECT_EQ(fake_->last(Kind::kSetCodec)->payload_type, 0);
  fake_->complete_all();
  settle();
  const auto state = server_->room_state("codec");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->members.size(), 1u);
  EXPECT_EQ(state->members[0].codec, "PCMU");
  EXPECT_EQ(fake_->count(Kind::kUpdateParticipant), updates);  // no hold from the offer
  EXPECT_EQ(received(Method::kBye, alice.call_id), 0u);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), 0);

  // The session took the 487 too: the next re-INVITE is answered.
  fake_->auto_complete = true;
  alice.use_pcma(false);
  EXPECT_EQ(invite(alice, "sendrecv", "codec"), 200);
  EXPECT_EQ(fake_->count(Kind::kSetCodec), 2u);  // PCMU already
  EXPECT_EQ(server_->room_state("codec")->members[0].codec, "PCMU");
  EXPECT_EQ(bye(alice, "codec"), 200);
  expect_baseline();
}

// The engine refuses the switch back after a CANCELled codec change (its
// retry queue full): the switch back is kept and reaches the shard once the
// engine takes commands again, as any refused change; meanwhile a new
// re-INVITE waits (500 + Retry-After), and the member ends on the old codec.
TEST_F(FocusCore, ARefusedSwitchBackAfterACancelledCodecChangeIsRetried) {
  start();
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "codec"), 200);
  settle();
  std::vector<int> statuses;
  ASSERT_NO_FATAL_FAILURE(cancelled_codec_change(alice, "sendrecv", statuses));

  // The shard takes the cancelled codec; the switch back is refused.
  fake_->complete(fake_->last(Kind::kSetCodec)->id);
  fake_->refuse_all = true;
  settle();
  EXPECT_EQ(fake_->count(Kind::kSetCodec), 1u);
  EXPECT_EQ(server_->gauges().unsent_changes, 1u);
  alice.use_pcma(false);
  EXPECT_EQ(invite(alice, "sendrecv", "codec"), 500);

  fake_->refuse_all = false;
  fake_->auto_complete = true;
  settle();
  ASSERT_EQ(fake_->count(Kind::kSetCodec), 2u);
  EXPECT_EQ(fake_->last(Kind::kSetCodec)->codec.id, mixer::CodecId::kPcmu);
  EXPECT_EQ(fake_->last(Kind::kSetCodec)->payload_type, 0);
  settle();
  EXPECT_EQ(fake_->count(Kind::kSetCodec), 2u);  // once
  EXPECT_EQ(server_->gauges().unsent_changes, 0u);
  EXPECT_EQ(server_->room_state("codec")->members[0].codec, "PCMU");
  // The session is as before the cancelled re-INVITE, on the shard too.
  EXPECT_EQ(invite(alice, "sendrecv", "codec"), 200);
  EXPECT_EQ(fake_->count(Kind::kSetCodec), 2u);  // PCMU already
  EXPECT_EQ(received(Method::kBye, alice.call_id), 0u);
  EXPECT_EQ(bye(alice, "codec"), 200);
  expect_baseline();
}

TEST_F(FocusCore, ReplacesTakesTheMembersPlaceAndRemovesTheOldParticipant) {
  start();
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "swap"), 200);
  const mixer::ParticipantId first = fake_->last(Kind::kAddParticipant)->participant;
  const uint64_t member = server_->room_state("swap")->members.at(0).id;
  // RFC 3891: the same user's new dialog replaces the old one.
  Caller alice2(440, "alice");
  ASSERT_EQ(invite_to(alice2, "sendrecv", "swap", {}, {{"Replaces", dialog_ref(alice)}}), 200);
  settle();
  const mixer::ParticipantId second = fake_->last(Kind::kAddParticipant)->participant;
  EXPECT_NE(first, second);
  EXPECT_FALSE(fake_->holds(first));
  EXPECT_TRUE(fake_->holds(second));
  // The old dialog got BYE; the roster entry (member id) carried over.
  const bool bye_sent = std::any_of(client_requests_.begin(), client_requests_.end(),
                                    [&](const Message& m) {
                                      return m.method() == Method::kBye &&
                                             m.call_id() == alice.call_id;
                                    });
  EXPECT_TRUE(bye_sent);
  const auto state = server_->room_state("swap");
  ASSERT_EQ(state->members.size(), 1u);
  EXPECT_EQ(state->members[0].id, member);
  EXPECT_EQ(bye(alice2, "swap"), 200);
  expect_baseline();
}

TEST_F(FocusCore, JoinRolesNeedTheirRightAndBecomeMixerRoles) {
  start([](Options& o) {
    o.accounts.push_back({"sup", "secret", {"monitor", "whisper", "barge"}});
  });
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "roles"), 200);
  const struct {
    const char* mode;
    mixer::Role role;
  } cases[] = {{"monitor", mixer::Role::kMonitor},
               {"whisper", mixer::Role::kWhisper},
               {"barge", mixer::Role::kBarge}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.mode);
    Caller sup(660, "sup");
    const std::string uri = room_uri("roles") + ";mode=" + c.mode;
    // Without credentials: challenged (RFC 3261 §22.3).
    Caller anon(660, "anon");
    EXPECT_EQ(invite_to(anon, "sendrecv", "roles", uri, {{"Join", dialog_ref(alice)}}), 401);
    ASSERT_EQ(invite_to(sup, "sendrecv", "roles", uri, {{"Join", dialog_ref(alice)}}, "sup",
                        "secret"),
              200);
    const Fake::Submitted add = *fake_->last(Kind::kAddParticipant);
    EXPECT_EQ(add.settings.role, c.role);
    if (c.role == mixer::Role::kWhisper) {
      ASSERT_EQ(add.settings.whisper_targets.size(), 1u);
    }
    EXPECT_EQ(bye(sup, "roles"), 200);
  }
  EXPECT_EQ(bye(alice, "roles"), 200);
  expect_baseline();
}

// [conference] sidebar_opus_bandwidth / _complexity reach the mixer with every
// member (the mixer reads them only while the member is in a sidebar).
TEST_F(FocusCore, SidebarOpusEncodingFromTheConfigReachesTheMixer) {
  start([](Options& o) {
    o.sidebar_opus_bandwidth = "superwideband";
    o.sidebar_opus_complexity = 3;
  });
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "sidebar-codec"), 200);
  const Fake::Submitted add = *fake_->last(Kind::kAddParticipant);
  EXPECT_EQ(add.settings.sidebar_opus_bandwidth, mixer::OpusBandwidth::kSuperWide);
  EXPECT_EQ(add.settings.sidebar_opus_complexity, 3);
  EXPECT_EQ(bye(alice, "sidebar-codec"), 200);
  expect_baseline();
}

TEST_F(FocusCore, ReferDialOutAddsTheCalleeWithTheCodecItsAnswerChose) {
  start([](Options& o) { o.accounts.push_back({"op", "pw", {"dial-out"}}); });
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "dial"), 200);
  Caller bob(550, "bob");
  callee_ = &bob;
  Message refer = request(alice, Method::kRefer, "dial");
  const std::string target = client_.contact_uri("bob", sip::TransportKind::kUdp);
  const auto accepted =
      exchange_auth(alice, std::move(refer), {{"Refer-To", "<" + target + ">"}}, "op", "pw");
  ASSERT_TRUE(accepted.has_value());
  EXPECT_EQ(accepted->status(), 202);
  // The focus INVITEs bob without an offer; bob's 200 offers PCMU; the add
  // completes and the ACK carries the answer with the port.
  run_until([&] {
    server_->poll_media();
    return bob.mixer_port != 0;
  });
  EXPECT_EQ(bob.mixer_port, 40002);
  ASSERT_EQ(fake_->count(Kind::kAddParticipant), 2u);
  EXPECT_EQ(fake_->last(Kind::kAddParticipant)->codec.id, mixer::CodecId::kPcmu);
  EXPECT_EQ(server_->room_state("dial")->members.size(), 2u);
  EXPECT_EQ(bye(alice, "dial"), 200);
  callee_ = nullptr;
  EXPECT_EQ(bye(bob, "dial"), 200);
  settle(100ms);
  expect_baseline();
}

TEST_F(FocusCore, HangUpWhileTheAddIsPendingRemovesTheParticipantOnceAdded) {
  start();
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "race"), 200);
  fake_->auto_complete = false;
  Caller bob(550, "bob");
  std::optional<Message> final;
  std::vector<int> statuses;
  send_invite(bob, "race", final, statuses);
  run_until([&] { return fake_->count(Kind::kAddParticipant) == 2; });
  // A moderator kicks bob before his add completes: bob's INVITE is
  // answered 503, his removal is submitted behind his add.
  const auto state = server_->room_state("race");
  ASSERT_TRUE(state.has_value());
  ASSERT_EQ(state->members.size(), 2u);
  EXPECT_EQ(server_->kick("race", state->members[1].id).status, 200);
  settle();
  ASSERT_TRUE(final.has_value());
  EXPECT_EQ(final->status(), 503);
  fake_->complete_all();  // add done, then remove done (order of submission)
  settle();
  EXPECT_EQ(server_->gauges().calls, 1u);  // alice stays
  fake_->auto_complete = true;
  EXPECT_EQ(bye(alice, "race"), 200);
  expect_baseline();
}

TEST_F(FocusCore, AnRtpTimeoutEndsTheCallWithBye) {
  start();
  Caller alice(440, "alice");
  ASSERT_EQ(invite(alice, "sendrecv", "quiet"), 200);
  const mixer::ParticipantId p = fake_->last(Kind::kAddParticipant)->participant;
  fake_->notify(mixer::Event::Kind::kRtpTimeout, p);
  settle();
  const bool bye_sent = std::any_of(client_requests_.begin(), client_requests_.end(),
                                    [](const Message& m) { return m.method() == Method::kBye; });
  EXPECT_TRUE(bye_sent);
  expect_baseline();
}

// Issue #18: a browser member whose consent expired or whose DTLS
// handshake failed or closed is ended like an RTP timeout: BYE, nothing left.
TEST_F(FocusCore, ABrowserMemberWhoseMediaEndedGetsABye) {
  start();
  for (const rtp::MediaEndReason reason :
       {rtp::MediaEndReason::kConsentExpired, rtp::MediaEndReason::kDtlsFailed,
        rtp::MediaEndReason::kDtlsClosed}) {
    SCOPED_TRACE(rtp::media_end_reason_name(reason));
    client_requests_.clear();
    Caller browser(440, "browser");
    ASSERT_EQ(invite(browser, "sendrecv", "web"), 200);
    const mixer::ParticipantId p = fake_->last(Kind::kAddParticipant)->participant;
    fake_->notify(mixer::Event::Kind::kMediaEnded, p, static_cast<uint64_t>(reason));
    settle();
    const bool bye_sent = std::any_of(client_requests_.begin(), client_requests_.end(),
                                      [](const Message& m) { return m.method() == Method::kBye; });
    EXPECT_TRUE(bye_sent);
    expect_baseline();
  }
}

TEST_F(FocusCore, RoomQueriesOnlyLookAtTheRoom) {
  start();
  std::vector<std::unique_ptr<Caller>> callers;
  for (int i = 0; i < 6; ++i) {
    callers.push_back(std::make_unique<Caller>(400 + i, "c" + std::to_string(i)));
    ASSERT_EQ(invite(*callers.back(), "sendrecv", i < 4 ? "big" : "small"), 200);
  }
  EXPECT_EQ(server_->room_state("big")->members.size(), 4u);
  EXPECT_EQ(server_->room_state("small")->members.size(), 2u);
  EXPECT_EQ(server_->rooms().size(), 2u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(bye(*callers[i], i < 4 ? "big" : "small"), 200);
  expect_baseline();
}

}  // namespace
}  // namespace chorus::focus::e2e

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
