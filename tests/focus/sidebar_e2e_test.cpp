// Issue #17 "Sidebars" end to end on 127.0.0.1: an in-process focus with its
// real media engine; every caller sends its own tone (Goertzel). A sidebar's
// members hear each other at full level and the main room about 12 dB
// lower, and the main room does not hear them unless the sidebar whispers
// into it. Sidebars are driven by the admin API and by REFER with our
// vendor action URNs (403 without the sidebar right), and are published as
// RFC 4575 <sidebars-by-ref> entries that validate against the schema.

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "focus/events/conference_info.hpp"
#include "focus/ops/admin_api.hpp"
#include "tests/focus/e2e_support.hpp"
#include "tests/focus/schema/xmllint.hpp"

namespace chorus::focus {
namespace {

using namespace e2e;
using nlohmann::json;

// Ports 47100-47499, one slice per test (ctest runs them in parallel).
constexpr uint16_t kFirstPort = 47100;
constexpr uint16_t kPortsPerTest = 40;

double db(double ratio) {
  return 20.0 * std::log10(ratio);
}

class SidebarE2eTest : public FocusE2e {
 protected:
  void start(int slot, const std::function<void(Options&)>& tweak = {}) {
    const auto first = static_cast<uint16_t>(kFirstPort + slot * kPortsPerTest);
    start_ports(first, static_cast<uint16_t>(first + kPortsPerTest - 1), tweak);
  }
  // Half a slot (20 ports: enough for a few callers), for slots shared by
  // two tests.
  void start_half(int slot, int half, const std::function<void(Options&)>& tweak = {}) {
    const auto first =
        static_cast<uint16_t>(kFirstPort + slot * kPortsPerTest + half * kPortsPerTest / 2);
    start_ports(first, static_cast<uint16_t>(first + kPortsPerTest / 2 - 1), tweak);
  }
  void start_ports(uint16_t first, uint16_t last, const std::function<void(Options&)>& tweak) {
    start_server(first, last, 30s, [&](Options& options) {
      options.media_shards = 1;
      options.accounts = {{"chair", "chair-pw", {"sidebar"}, {}},
                          {"mod", "mod-pw", {"moderate", "record"}, {}},
                          {"sup", "sup-pw", {"barge", "whisper", "monitor"}, {}}};
      if (tweak) tweak(options);
    });
  }

  // The sidebar ids GET /api/rooms/{room} lists `caller` in (as a member's
  // "sidebar" and in the sidebars' "members"), as "member:N lists:[...]".
  std::string admin_sidebar_of(std::string_view room, const Caller& caller) {
    const uint64_t id = id_of(room, caller);
    const json state = json::parse(admin("GET", "/api/rooms/" + std::string(room)).body);
    std::string out = "member:";
    for (const json& m : state.at("members")) {
      if (m.at("id") == id) out += std::to_string(m.at("sidebar").get<uint32_t>());
    }
    out += " lists:[";
    for (const json& s : state.at("sidebars")) {
      for (const json& m : s.at("members")) {
        if (m == id) out += std::to_string(s.at("id").get<uint32_t>());
      }
    }
    return out + "]";
  }

  // SUBSCRIBE to the conference package at `uri` (a sidebar's); its status,
  // and once 200, its first NOTIFY awaited.
  int subscribe(Caller& watcher, std::string_view room, const std::string& uri) {
    const auto answer = subscribe_conference(watcher, room, uri);
    if (!answer) return 0;
    if (answer->status() == 200) run_until([&] { return !notifies(watcher.call_id).empty(); });
    return answer->status();
  }

  // The Subscription-State of the NOTIFY that ends `watcher`'s subscription
  // ("" when none came).
  std::string final_state(const Caller& watcher) {
    const auto state = [&] {
      const auto sent = notifies(watcher.call_id);
      return sent.empty() ? std::string()
                          : std::string(sent.back()->header("Subscription-State").value_or(""));
    };
    run_until([&] { return state().starts_with("terminated"); });
    return state().starts_with("terminated") ? state() : std::string();
  }

  // POST /api/rooms/{room}/sidebars; the new id (0 when refused).
  uint32_t create(std::string_view room, const std::string& body, int* status = nullptr) {
    const AdminResponse r = admin("POST", "/api/rooms/" + std::string(room) + "/sidebars", body);
    if (status != nullptr) *status = r.status;
    if (r.status != 201) return 0;
    return json::parse(r.body).at("id").get<uint32_t>();
  }

  void supervisor_joins_sidebar(int half, const std::string& room, const std::string& mode,
                                bool alice_hears);

  // Joe (1500 Hz) joined alice's (400 Hz) sidebar: he hears her at full level
  // and bob (700 Hz, main room) about 12 dB lower; alice hears joe, bob hears
  // neither.
  void expect_joe_in_alices_sidebar(Caller& a, Caller& b, Caller& j, const char* label) {
    talk({&a, &b, &j}, 60, 30);
    EXPECT_GT(j.heard(400), kHeard);
    EXPECT_NEAR(db(j.heard(700) / j.heard(400)), -12.0, 2.0)
        << j.heard(700) << " vs " << j.heard(400);
    EXPECT_GT(a.heard(1500), kHeard);
    EXPECT_LT(b.heard(1500), kSilent);
    EXPECT_LT(b.heard(400), kSilent);
    std::printf("%s: joe hears bob (main room) %+.1f dB below alice\n", label,
                db(j.heard(700) / j.heard(400)));
  }
};

// Issue #17 evidence: members of a sidebar hear each other at full level and
// the main room ~12 dB lower; the main room does not hear them; with
// whisper_main it does.
TEST_F(SidebarE2eTest, SidebarMembersHearEachOtherFullyAndTheMainRoomTwelveDecibelsLower) {
  start(0);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  ASSERT_EQ(invite(a, "sendrecv", "sb"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "sb"), 200);
  ASSERT_EQ(invite(c, "sendrecv", "sb"), 200);

  // Before: everyone hears everyone at full level.
  talk({&a, &b, &c}, 60, 30);
  const double a_hears_c_before = a.heard(1100);
  const double b_hears_c_before = b.heard(1100);
  ASSERT_GT(a_hears_c_before, kHeard);
  ASSERT_GT(b_hears_c_before, kHeard);
  ASSERT_GT(c.heard(400), kHeard);

  const uint64_t ida = id_of("sb", a), idb = id_of("sb", b);
  const uint32_t sidebar =
      create("sb", json{{"name", "huddle"}, {"members", json::array({ida, idb})}}.dump());
  ASSERT_EQ(sidebar, 1u);
  talk({&a, &b, &c}, 60, 30);
  // A and B hear each other at full level.
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_GT(b.heard(400), kHeard);
  EXPECT_NEAR(db(a.heard(700) / a_hears_c_before), 0.0, 2.0);
  // The main room at -12 dB (the configured default), within 2 dB.
  EXPECT_NEAR(db(a.heard(1100) / a_hears_c_before), -12.0, 2.0)
      << a.heard(1100) << " vs " << a_hears_c_before;
  EXPECT_NEAR(db(b.heard(1100) / b_hears_c_before), -12.0, 2.0)
      << b.heard(1100) << " vs " << b_hears_c_before;
  std::printf(
      "sidebar: A hears B %+.1f dB, A hears C %+.1f dB, B hears C %+.1f dB, C hears A %.0f\n",
      db(a.heard(700) / a_hears_c_before), db(a.heard(1100) / a_hears_c_before),
      db(b.heard(1100) / b_hears_c_before), c.heard(400));
  // The main room hears neither.
  EXPECT_LT(c.heard(400), kSilent);
  EXPECT_LT(c.heard(700), kSilent);

  // Dissolved: everyone back in the main room.
  EXPECT_EQ(admin("DELETE", "/api/rooms/sb/sidebars/1").status, 200);
  talk({&a, &b, &c}, 60, 30);
  EXPECT_GT(c.heard(400), kHeard);
  EXPECT_GT(c.heard(700), kHeard);
  EXPECT_NEAR(db(a.heard(1100) / a_hears_c_before), 0.0, 2.0);

  // Whispering into the main room: C hears them; they still hear C lower.
  ASSERT_NE(create("sb", json{{"name", "loud"},
                              {"members", json::array({ida, idb})},
                              {"whisper_main", true},
                              {"main_gain_db", -6}}
                             .dump()),
            0u);
  talk({&a, &b, &c}, 60, 30);
  EXPECT_GT(c.heard(400), kHeard);
  EXPECT_GT(c.heard(700), kHeard);
  EXPECT_NEAR(db(a.heard(1100) / a_hears_c_before), -6.0, 2.0);
  EXPECT_GT(a.heard(700), kHeard);
}

TEST_F(SidebarE2eTest, AdminApiCreatesFillsAndDissolvesSidebarsWithClearErrors) {
  start(1, [](Options& o) { o.sidebar_main_gain_db = -20; });
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  ASSERT_EQ(invite(a, "sendrecv", "room"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "room"), 200);
  ASSERT_EQ(invite(c, "sendrecv", "room"), 200);
  const uint64_t ida = id_of("room", a), idb = id_of("room", b), idc = id_of("room", c);

  const AdminResponse made = admin("POST", "/api/rooms/room/sidebars",
                                   json{{"name", "side"}, {"members", json::array({ida})}}.dump());
  ASSERT_EQ(made.status, 201) << made.body;
  const json body = json::parse(made.body);
  EXPECT_EQ(body.at("id"), 1);
  // The room's conference URI with a sidebar parameter (the user part stays the room's).
  EXPECT_EQ(body.at("uri"), server_->room_state("room")->entity + ";sidebar=1");

  // GET shows it, with the configured default gain and its member.
  const json room = json::parse(admin("GET", "/api/rooms/room").body);
  ASSERT_EQ(room.at("sidebars").size(), 1u);
  EXPECT_EQ(room["sidebars"][0].at("name"), "side");
  EXPECT_EQ(room["sidebars"][0].at("main_gain_db"), -20.0);
  EXPECT_EQ(room["sidebars"][0].at("whisper_main"), false);
  EXPECT_EQ(room["sidebars"][0].at("members"), json::array({ida}));

  // Errors, each with a message.
  int status = 0;
  create("nowhere", R"({"name":"x"})", &status);
  EXPECT_EQ(status, 404);
  create("room", R"({"name":""})", &status);
  EXPECT_EQ(status, 400);
  create("room", R"({"members":[1]})", &status);
  EXPECT_EQ(status, 400);
  create("room", R"({"name":"x","main_gain_db":6})", &status);
  EXPECT_EQ(status, 400);
  create("room", R"({"name":"x","members":"all"})", &status);
  EXPECT_EQ(status, 400);
  create("room", R"({"name":"side"})", &status);
  EXPECT_EQ(status, 409);  // the name is taken
  create("room", json{{"name", "x"}, {"members", json::array({ida})}}.dump(), &status);
  EXPECT_EQ(status, 409);  // alice is in "side"
  create("room", json{{"name", "x"}, {"members", json::array({999})}}.dump(), &status);
  EXPECT_EQ(status, 404);
  const AdminResponse conflict =
      admin("POST", "/api/rooms/room/sidebars", json{{"name", "side"}}.dump());
  EXPECT_NE(json::parse(conflict.body).at("error").get<std::string>().find("side"),
            std::string::npos);
  EXPECT_EQ(admin("DELETE", "/api/rooms/room/sidebars/7").status, 404);
  EXPECT_EQ(admin("DELETE", "/api/rooms/room/sidebars/zero").status, 400);
  EXPECT_EQ(admin("PUT", "/api/rooms/room/sidebars/1/members/999").status, 404);
  EXPECT_EQ(admin("DELETE", "/api/rooms/room/sidebars/1/members/" + std::to_string(idc)).status,
            404);  // carol is not in it
  EXPECT_EQ(admin("GET", "/api/rooms/room/sidebars/1").status, 405);

  // PUT moves a member in (out of any other sidebar), DELETE takes it out.
  EXPECT_EQ(admin("PUT", "/api/rooms/room/sidebars/1/members/" + std::to_string(idb)).status, 200);
  EXPECT_EQ(member("room", b)->sidebar, 1u);
  const uint32_t second = create("room", R"({"name":"two"})");
  ASSERT_EQ(second, 2u);
  EXPECT_EQ(admin("PUT", "/api/rooms/room/sidebars/2/members/" + std::to_string(idb)).status, 200);
  EXPECT_EQ(member("room", b)->sidebar, 2u);
  EXPECT_EQ(server_->room_state("room")->sidebars[0].members, std::vector<uint64_t>{ida});
  EXPECT_EQ(admin("DELETE", "/api/rooms/room/sidebars/2/members/" + std::to_string(idb)).status,
            200);
  EXPECT_EQ(member("room", b)->sidebar, 0u);

  // An empty sidebar stays until dissolved; an id is never reused (the old
  // URI finds nothing); 16 at a time at most.
  EXPECT_EQ(server_->room_state("room")->sidebars.size(), 2u);
  EXPECT_EQ(admin("DELETE", "/api/rooms/room/sidebars/1").status, 200);
  EXPECT_EQ(member("room", a)->sidebar, 0u);  // back in the main room
  EXPECT_EQ(create("room", R"({"name":"again"})"), 3u);
  EXPECT_EQ(admin("DELETE", "/api/rooms/room/sidebars/1").status, 404);
  for (int i = 4; i <= 17; ++i) {
    EXPECT_EQ(create("room", json{{"name", "s" + std::to_string(i)}}.dump()), uint32_t(i));
  }
  create("room", R"({"name":"one-too-many"})", &status);
  EXPECT_EQ(status, 409);

  // A member whose call ends leaves its sidebar.
  EXPECT_EQ(admin("PUT", "/api/rooms/room/sidebars/3/members/" + std::to_string(idc)).status, 200);
  ASSERT_EQ(bye(c, "room"), 200);
  const ConferenceState after = *server_->room_state("room");
  for (const SidebarState& s : after.sidebars) {
    EXPECT_TRUE(s.members.empty()) << s.name;
  }
}

TEST_F(SidebarE2eTest, AnAccountWithoutTheSidebarRightGetsNoAdminRoute) {
  start(2);
  Caller a(400, "alice");
  ASSERT_EQ(invite(a, "sendrecv", "r"), 200);
  // Bearer-less, wrong right: 403 naming the right; no sidebar made.
  const std::string target = "/api/rooms/r/sidebars";
  const AdminResponse challenge = operator_api().handle(AdminRequest{"POST", target, {}, "{}", {}});
  ASSERT_EQ(challenge.status, 401);
  ASSERT_FALSE(challenge.challenges.empty());
  const std::string creds =
      FocusE2e::digest_answer(challenge.challenges.front(), "POST", target, "mod", "mod-pw");
  const AdminResponse refused =
      operator_api().handle(AdminRequest{"POST", target, creds, R"({"name":"x"})", {}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("sidebar"), std::string::npos) << refused.body;
  EXPECT_TRUE(server_->room_state("r")->sidebars.empty());
}

// REFER with Refer-To <urn:x-chorus:conference:sidebar-join;sidebar=NAME>
// and Target-Dialog naming the member (RFC 4538), message by message: 202,
// NOTIFY 100 Trying, NOTIFY 200 OK; the member is in the sidebar, which the
// REFER created; sidebar-leave takes it back; 403 without the right.
TEST_F(SidebarE2eTest, ReferSidebarJoinAndLeaveNeedTheSidebarRight) {
  start(3);
  Caller a(400, "alice"), b(700, "bob"), c(1100, "carol");
  ASSERT_EQ(invite(a, "sendrecv", "ref"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "ref"), 200);
  ASSERT_EQ(invite(c, "sendrecv", "ref"), 200);

  const auto refer = [&](const std::string& refer_to, const Caller* target, std::string_view user,
                         std::string_view password, Caller& op) {
    Message m = request(op, Method::kRefer, "ref");
    Headers headers{{"Refer-To", refer_to}};
    if (target != nullptr) headers.emplace_back("Target-Dialog", target_dialog(*target));
    return exchange_auth(op, std::move(m), headers, user, password);
  };

  // Without the right (an account holding moderate and record): 403.
  Caller mod(1900, "mod");
  const auto refused =
      refer("<urn:x-chorus:conference:sidebar-join;sidebar=huddle>", &a, "mod", "mod-pw", mod);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status(), 403);
  EXPECT_TRUE(server_->room_state("ref")->sidebars.empty());
  EXPECT_TRUE(notifies(mod.call_id).empty());

  // With it: 202, then the implicit subscription's NOTIFYs.
  Caller chair(1900, "chair");
  const auto accepted = refer("<urn:x-chorus:conference:sidebar-join;sidebar=huddle>", &a, "chair",
                              "chair-pw", chair);
  ASSERT_TRUE(accepted);
  ASSERT_EQ(accepted->status(), 202) << accepted->serialize();
  run_until([&] { return notifies(chair.call_id).size() >= 2; });
  const std::vector<const Message*> sent = notifies(chair.call_id);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(sent[0]->body().starts_with("SIP/2.0 100 Trying"));
  EXPECT_TRUE(sent[1]->body().starts_with("SIP/2.0 200 OK"));
  EXPECT_EQ(sent[1]->header("Subscription-State").value_or(""), "terminated;reason=noresource");
  const ConferenceState state = *server_->room_state("ref");
  ASSERT_EQ(state.sidebars.size(), 1u);
  EXPECT_EQ(state.sidebars[0].name, "huddle");
  EXPECT_EQ(member("ref", a)->sidebar, state.sidebars[0].id);

  // B joins by the sidebar's id (Target-Dialog as the member itself sees it).
  Caller chair2(1900, "chair");
  Message m = request(chair2, Method::kRefer, "ref");
  const auto by_id =
      exchange_auth(chair2, std::move(m),
                    {{"Refer-To", "<urn:x-chorus:conference:sidebar-join;sidebar=1>"},
                     {"Target-Dialog", target_dialog(b, /*member_view=*/true)}},
                    "chair", "chair-pw");
  ASSERT_TRUE(by_id);
  EXPECT_EQ(by_id->status(), 202);
  EXPECT_EQ(member("ref", b)->sidebar, 1u);

  // The audio follows: A and B talk privately.
  talk({&a, &b, &c}, 60, 30);
  EXPECT_GT(a.heard(700), kHeard);
  EXPECT_LT(c.heard(400), kSilent);
  EXPECT_LT(c.heard(700), kSilent);

  // sidebar-leave: A back in the main room; errors answer the REFER.
  Caller chair3(1900, "chair");
  const auto left =
      refer("<urn:x-chorus:conference:sidebar-leave>", &a, "chair", "chair-pw", chair3);
  ASSERT_TRUE(left);
  EXPECT_EQ(left->status(), 202);
  EXPECT_EQ(member("ref", a)->sidebar, 0u);
  Caller chair4(1900, "chair");
  const auto not_in =
      refer("<urn:x-chorus:conference:sidebar-leave>", &c, "chair", "chair-pw", chair4);
  ASSERT_TRUE(not_in);
  EXPECT_EQ(not_in->status(), 409);
  Caller chair5(1900, "chair");
  const auto no_target = refer("<urn:x-chorus:conference:sidebar-join;sidebar=x>", nullptr, "chair",
                               "chair-pw", chair5);
  ASSERT_TRUE(no_target);
  EXPECT_EQ(no_target->status(), 400);
  Caller chair6(1900, "chair");
  const auto unknown = refer("<urn:x-chorus:conference:sidebar-dissolve;sidebar=nope>", nullptr,
                             "chair", "chair-pw", chair6);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status(), 404);
  Caller chair7(1900, "chair");
  const auto dissolved = refer("<urn:x-chorus:conference:sidebar-dissolve;sidebar=huddle>", nullptr,
                               "chair", "chair-pw", chair7);
  ASSERT_TRUE(dissolved);
  EXPECT_EQ(dissolved->status(), 202);
  EXPECT_TRUE(server_->room_state("ref")->sidebars.empty());
  EXPECT_EQ(member("ref", b)->sidebar, 0u);
}

// RFC 4575 §5.9: the conference package carries <sidebars-by-ref>, one
// <entry> per sidebar; a subscriber's partial NOTIFYs follow the changes,
// and every document validates against the RFC's schema.
TEST_F(SidebarE2eTest, ConferencePackageListsSidebarsByRefAndValidates) {
  start(4);
  Caller a(400, "alice"), b(700, "bob"), watcher(1900, "watcher");
  ASSERT_EQ(invite(a, "sendrecv", "pkg"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "pkg"), 200);
  const auto ok = subscribe_conference(watcher, "pkg");
  ASSERT_TRUE(ok && ok->status() == 200);
  run_until([&] { return notifies(watcher.call_id).size() >= 1; });
  ASSERT_EQ(notifies(watcher.call_id).size(), 1u);
  EXPECT_EQ(notifies(watcher.call_id)[0]->body().find("sidebars-by-ref"), std::string::npos);

  ASSERT_EQ(
      create("pkg",
             json{{"name", "Q&A <corner>"}, {"members", json::array({id_of("pkg", a)})}}.dump()),
      1u);
  run_until([&] { return notifies(watcher.call_id).size() >= 2; });
  ASSERT_EQ(notifies(watcher.call_id).size(), 2u);
  const std::string partial(notifies(watcher.call_id)[1]->body());
  EXPECT_NE(partial.find("state=\"partial\""), std::string::npos) << partial;
  const std::string entry = "<sidebars-by-ref state=\"full\"><entry><uri>" +
                            server_->room_state("pkg")->entity +
                            ";sidebar=1</uri><display-text>Q&amp;A &lt;corner&gt;</display-text>"
                            "</entry></sidebars-by-ref>";
  EXPECT_NE(partial.find(entry), std::string::npos) << partial;

  ASSERT_EQ(create("pkg", R"({"name":"second"})"), 2u);
  run_until([&] { return notifies(watcher.call_id).size() >= 3; });
  ASSERT_EQ(notifies(watcher.call_id).size(), 3u);
  const std::string two(notifies(watcher.call_id)[2]->body());
  EXPECT_NE(two.find(";sidebar=2</uri><display-text>second</display-text>"), std::string::npos)
      << two;
  const std::string full = conference_info_full(*server_->room_state("pkg"), 9);
  EXPECT_NE(full.find(entry.substr(0, entry.find("</sidebars-by-ref>"))), std::string::npos);

  // The last sidebar gone: a full document without the element.
  EXPECT_EQ(admin("DELETE", "/api/rooms/pkg/sidebars/1").status, 200);
  EXPECT_EQ(admin("DELETE", "/api/rooms/pkg/sidebars/2").status, 200);
  // (Two quick changes may share one NOTIFY: the second waits for the first's answer.)
  run_until([&] {
    const auto sent = notifies(watcher.call_id);
    return sent.size() >= 4 && sent.back()->body().find("sidebars-by-ref") == std::string::npos;
  });
  ASSERT_GE(notifies(watcher.call_id).size(), 4u);
  const std::string last(notifies(watcher.call_id).back()->body());
  EXPECT_NE(last.find("state=\"full\""), std::string::npos) << last;
  EXPECT_EQ(last.find("sidebars-by-ref"), std::string::npos) << last;

  if (!testing::have_xmllint()) GTEST_SKIP() << "xmllint not installed";
  for (const Message* notify : notifies(watcher.call_id)) {
    const std::string document(notify->body());
    const testing::SchemaCheck check = testing::validate_against("conference-info.xsd", document);
    EXPECT_TRUE(check.valid) << check.output << "\n" << document;
  }
  const testing::SchemaCheck check = testing::validate_against("conference-info.xsd", full);
  EXPECT_TRUE(check.valid) << check.output << "\n" << full;
}

// A sidebar URI is a conference of its own: SUBSCRIBE to it gets a document
// with its URI, its name and only its members; an INVITE to it joins the
// room straight into the sidebar; dissolving it ends the subscription.
TEST_F(SidebarE2eTest, SubscribeToASidebarUriAndDialIntoIt) {
  start(5);
  Caller a(400, "alice"), b(700, "bob"), d(1300, "dave"), watcher(1900, "watcher");
  ASSERT_EQ(invite(a, "sendrecv", "sub"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "sub"), 200);
  ASSERT_EQ(
      create("sub", json{{"name", "side"}, {"members", json::array({id_of("sub", a)})}}.dump()),
      1u);
  const std::string uri = room_uri("sub") + ";sidebar=1";  // as dialled (with our port)
  const std::string entity = server_->room_state("sub")->entity + ";sidebar=1";  // as published

  ASSERT_EQ(subscribe(watcher, "sub", uri), 200);
  ASSERT_EQ(notifies(watcher.call_id).size(), 1u);
  const std::string first(notifies(watcher.call_id)[0]->body());
  EXPECT_NE(first.find("conference-info xmlns=\"urn:ietf:params:xml:ns:conference-info\""),
            std::string::npos);
  EXPECT_NE(first.find("entity=\"" + entity + "\""), std::string::npos) << first;
  EXPECT_NE(first.find("<display-text>side</display-text>"), std::string::npos) << first;
  EXPECT_NE(first.find("sip:alice@127.0.0.1"), std::string::npos) << first;
  EXPECT_EQ(first.find("sip:bob@127.0.0.1"), std::string::npos) << first;
  EXPECT_EQ(first.find("sidebars-by-ref"), std::string::npos) << first;

  // An unknown sidebar is no conference: 404 to SUBSCRIBE and INVITE.
  Caller stranger(1900, "stranger");
  Message wrong = request(stranger, Method::kSubscribe, "sub");
  wrong.set_request_uri(room_uri("sub") + ";sidebar=9");
  wrong.set_header("Event", "conference");
  const auto refused = exchange(std::move(wrong));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status(), 404);
  Caller lost(1500, "lost");
  EXPECT_EQ(invite_to(lost, "sendrecv", "sub", room_uri("sub") + ";sidebar=9", {}), 404);

  // Dave dials the sidebar's URI: in the room and in the sidebar at once.
  ASSERT_EQ(invite_to(d, "sendrecv", "sub", uri, {}), 200);
  ASSERT_TRUE(member("sub", d).has_value());
  EXPECT_EQ(member("sub", d)->sidebar, 1u);
  run_until([&] {
    const auto sent = notifies(watcher.call_id);
    return sent.size() >= 2 && sent.back()->body().find("sip:dave@127.0.0.1") != std::string::npos;
  });
  ASSERT_GE(notifies(watcher.call_id).size(), 2u);
  talk({&a, &b, &d}, 60, 30);
  EXPECT_GT(d.heard(400), kHeard);  // alice, in the sidebar: full level
  EXPECT_GT(a.heard(1300), kHeard);
  EXPECT_LT(b.heard(1300), kSilent);  // the main room does not hear dave
  EXPECT_LT(b.heard(400), kSilent);

  if (testing::have_xmllint()) {
    for (const Message* notify : notifies(watcher.call_id)) {
      const testing::SchemaCheck check =
          testing::validate_against("conference-info.xsd", std::string(notify->body()));
      EXPECT_TRUE(check.valid) << check.output << "\n" << notify->body();
    }
  }

  // Dissolved: the sidebar's subscription ends (RFC 6665 §4.2.2 noresource).
  EXPECT_EQ(admin("DELETE", "/api/rooms/sub/sidebars/1").status, 200);
  EXPECT_EQ(final_state(watcher), "terminated;reason=noresource");
}

// A sidebar's subscriber sees what happens in the room as its sidebar sees
// it: a talker (rate-limited room publishes reach sidebar documents too),
// whatever spelling of the id it subscribed with ("01" is sidebar 1), and its
// end when the sidebar is dissolved.
TEST_F(SidebarE2eTest, SidebarSubscribersSeeTalkersAndTheEndWhateverTheIdSpelling) {
  start(6);
  Caller a(400, "alice"), b(700, "bob"), watcher(1900, "watcher");
  ASSERT_EQ(invite(a, "sendrecv", "talk"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "talk"), 200);
  ASSERT_EQ(
      create("talk", json{{"name", "side"}, {"members", json::array({id_of("talk", a)})}}.dump()),
      1u);
  ASSERT_EQ(subscribe(watcher, "talk", room_uri("talk") + ";sidebar=01"), 200);
  ASSERT_EQ(notifies(watcher.call_id).size(), 1u);
  EXPECT_EQ(notifies(watcher.call_id)[0]->body().find("<chorus:talking>true"), std::string::npos);

  // Alice talks (bob too, in the main room): the sidebar's document says so.
  const auto talking = [&] {
    for (const Message* notify : notifies(watcher.call_id)) {
      if (notify->body().find("<chorus:talking>true</chorus:talking>") != std::string::npos)
        return true;
    }
    return false;
  };
  for (int round = 0; round < 5 && !talking(); ++round) talk({&a, &b}, 40, 40);
  EXPECT_TRUE(talking()) << "no talker update reached the sidebar's subscriber";
  for (const Message* notify : notifies(watcher.call_id)) {
    EXPECT_EQ(notify->body().find("sip:bob@127.0.0.1"), std::string::npos) << notify->body();
  }

  EXPECT_EQ(admin("DELETE", "/api/rooms/talk/sidebars/1").status, 200);
  EXPECT_EQ(final_state(watcher), "terminated;reason=noresource");
}

// RFC 3911 §4: a Join enters the conversation of the named dialog. Alice
// is in sidebar 1, bob in the main room; joe dials the sidebar's URI with a
// Join naming alice's dialog: he is in the sidebar, hears alice at full
// level and bob ~12 dB lower, and bob does not hear him.
TEST_F(SidebarE2eTest, JoinToTheSidebarUriNamingASidebarMemberEntersThatSidebar) {
  start_half(7, 0);
  Caller a(400, "alice"), b(700, "bob"), j(1500, "joe");
  ASSERT_EQ(invite(a, "sendrecv", "ja"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "ja"), 200);
  ASSERT_EQ(create("ja", json{{"name", "side"}, {"members", json::array({id_of("ja", a)})}}.dump()),
            1u);
  ASSERT_EQ(invite_to(j, "sendrecv", "ja", room_uri("ja") + ";sidebar=1;mode=participant",
                      {{"Join", dialog_ref(a)}}),
            200);
  EXPECT_EQ(admin_sidebar_of("ja", j), "member:1 lists:[1]");

  expect_joe_in_alices_sidebar(a, b, j, "join via sidebar URI");
}

// The same Join sent to the plain room URI: the joined dialog decides, so
// joe lands in alice's sidebar. The Join's own rights still apply: without
// ;mode= a Join barges in, which needs the barge right (403 without it).
TEST_F(SidebarE2eTest, JoinToThePlainRoomUriNamingASidebarMemberEntersThatSidebar) {
  start_half(7, 1);
  Caller a(400, "alice"), b(700, "bob"), j(1500, "joe"), refused(1500, "joe");
  ASSERT_EQ(invite(a, "sendrecv", "jb"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "jb"), 200);
  ASSERT_EQ(create("jb", json{{"name", "side"}, {"members", json::array({id_of("jb", a)})}}.dump()),
            1u);
  // "chair" has the sidebar right, not barge.
  EXPECT_EQ(invite_to(refused, "sendrecv", "jb", room_uri("jb"), {{"Join", dialog_ref(a)}}, "chair",
                      "chair-pw"),
            403);
  EXPECT_EQ(server_->room_state("jb")->members.size(), 2u);
  ASSERT_EQ(
      invite_to(j, "sendrecv", "jb", room_uri("jb"), {{"Join", dialog_ref(a)}}, "sup", "sup-pw"),
      200);
  EXPECT_EQ(admin_sidebar_of("jb", j), "member:1 lists:[1]");

  expect_joe_in_alices_sidebar(a, b, j, "join via room URI");
}

// A Join naming a main-room member lands in the main room, and so does one
// naming a member whose sidebar has been dissolved since.
TEST_F(SidebarE2eTest, JoinNamingAMainRoomMemberStaysInTheMainRoom) {
  start_half(8, 0);
  Caller a(400, "alice"), b(700, "bob"), j(1500, "joe"), k(1900, "kim");
  ASSERT_EQ(invite(a, "sendrecv", "jc"), 200);
  ASSERT_EQ(invite(b, "sendrecv", "jc"), 200);
  ASSERT_EQ(create("jc", json{{"name", "side"}, {"members", json::array({id_of("jc", a)})}}.dump()),
            1u);
  ASSERT_EQ(invite_to(j, "sendrecv", "jc", room_uri("jc") + ";mode=participant",
                      {{"Join", dialog_ref(b)}}),
            200);
  EXPECT_EQ(admin_sidebar_of("jc", j), "member:0 lists:[]");
  // Without a cluster front the published URIs name this node (sip_host,
  // no port for the tests' port 0); with one, the test below.
  const ConferenceState state = *server_->room_state("jc");
  EXPECT_EQ(state.entity, "sip:jc@127.0.0.1");
  ASSERT_EQ(state.sidebars.size(), 1u);
  EXPECT_EQ(state.sidebars[0].uri, "sip:jc@127.0.0.1;sidebar=1");
  talk({&a, &b, &j}, 60, 30);
  EXPECT_GT(b.heard(1500), kHeard);  // the main room hears joe
  EXPECT_GT(j.heard(700), kHeard);
  EXPECT_LT(j.heard(400), kSilent);  // and alice's sidebar is private
  // Alice, in the sidebar, hears joe as part of the main room: ~12 dB lower.
  EXPECT_NEAR(db(a.heard(1500) / b.heard(1500)), -12.0, 2.0)
      << a.heard(1500) << " vs " << b.heard(1500);

  // Sidebar 1 dissolved: a Join naming alice is a main-room join.
  EXPECT_EQ(admin("DELETE", "/api/rooms/jc/sidebars/1").status, 200);
  ASSERT_EQ(invite_to(k, "sendrecv", "jc", room_uri("jc") + ";mode=participant",
                      {{"Join", dialog_ref(a)}}),
            200);
  EXPECT_EQ(admin_sidebar_of("jc", k), "member:0 lists:[]");
  // (Only bob and kim talk: four talkers would exceed the mixer's top-K.)
  talk({&b, &k}, 60, 30);
  EXPECT_GT(b.heard(1900), kHeard);
  EXPECT_GT(k.heard(700), kHeard);
}

// Behind a cluster front ([cluster] front) the URIs the focus publishes —
// the conference package's entity and conf-uris, the <sidebars-by-ref>
// entries, the admin API's — name the front, so watchers subscribe and dial
// through it; without a front they name this node.
TEST_F(SidebarE2eTest, PublishedConferenceAndSidebarUrisNameTheClusterFront) {
  start_half(8, 1, [](Options& o) { o.cluster_front = "sip:front.example:5070;transport=tcp"; });
  Caller a(400, "alice"), watcher(1900, "watcher");
  ASSERT_EQ(invite(a, "sendrecv", "fr"), 200);
  ASSERT_EQ(create("fr", json{{"name", "side"}, {"members", json::array({id_of("fr", a)})}}.dump()),
            1u);
  const std::string room = "sip:fr@front.example:5070;transport=tcp";
  const std::string sidebar = room + ";sidebar=1";
  const ConferenceState state = *server_->room_state("fr");
  EXPECT_EQ(state.entity, room);
  ASSERT_EQ(state.sidebars.size(), 1u);
  EXPECT_EQ(state.sidebars[0].uri, sidebar);
  const std::string full = conference_info_full(state, 1);
  EXPECT_NE(full.find("entity=\"" + room + "\""), std::string::npos) << full;
  EXPECT_NE(full.find("<conf-uris><entry><uri>" + room + "</uri>"), std::string::npos) << full;
  EXPECT_NE(full.find("<sidebars-by-ref state=\"full\"><entry><uri>" + sidebar + "</uri>"),
            std::string::npos)
      << full;
  const json api = json::parse(admin("GET", "/api/rooms/fr").body);
  EXPECT_EQ(api.at("entity"), room);
  EXPECT_EQ(api.at("sidebars").at(0).at("uri"), sidebar);
  // A sidebar's own document (subscribed at this node) names it by the front too.
  ASSERT_EQ(subscribe(watcher, "fr", room_uri("fr") + ";sidebar=1"), 200);
  ASSERT_EQ(notifies(watcher.call_id).size(), 1u);
  const std::string first(notifies(watcher.call_id)[0]->body());
  EXPECT_NE(first.find("entity=\"" + sidebar + "\""), std::string::npos) << first;
  EXPECT_NE(first.find("<conf-uris><entry><uri>" + sidebar + "</uri>"), std::string::npos) << first;
}

// A supervisor's Join naming a sidebar member (RFC 3911 §4) enters that
// sidebar in the Join's mode: alice (400 Hz) is in sidebar 1 of `room`, bob
// (700 Hz) in its main room, and the supervisor (1500 Hz) joins alice's
// dialog with `;mode=<mode>`. Whatever the mode, he hears what alice hears
// (her sidebar at full level, the main room about 12 dB lower), and the main
// room hears neither him nor alice. How alice hears him: `alice_hears`.
void SidebarE2eTest::supervisor_joins_sidebar(int half, const std::string& room,
                                              const std::string& mode, bool alice_hears) {
  start_half(9, half);
  Caller a(400, "alice"), b(700, "bob"), s(1500, "sup");
  ASSERT_EQ(invite(a, "sendrecv", room), 200);
  ASSERT_EQ(invite(b, "sendrecv", room), 200);
  ASSERT_EQ(create(room, json{{"name", "side"}, {"members", json::array({id_of(room, a)})}}.dump()),
            1u);
  ASSERT_EQ(invite_to(s, "sendrecv", room, room_uri(room) + ";mode=" + mode,
                      {{"Join", dialog_ref(a)}}, "sup", "sup-pw"),
            200);
  EXPECT_EQ(admin_sidebar_of(room, s), "member:1 lists:[1]");
  talk({&a, &b, &s}, 60, 30);
  if (alice_hears) {
    EXPECT_GT(a.heard(1500), kHeard);
  } else {
    EXPECT_LT(a.heard(1500), kSilent);
  }
  EXPECT_LT(b.heard(1500), kSilent);  // nobody in the main room hears him
  EXPECT_LT(b.heard(400), kSilent);   // and the sidebar stays private
  EXPECT_GT(s.heard(400), kHeard);
  EXPECT_NEAR(db(s.heard(700) / s.heard(400)), -12.0, 2.0)
      << s.heard(700) << " vs " << s.heard(400);
}

// As a whisperer (a coach) only alice hears him.
TEST_F(SidebarE2eTest, AWhispererJoiningASidebarMemberCoachesHerInsideTheSidebar) {
  supervisor_joins_sidebar(0, "wa", "whisper", /*alice_hears=*/true);
}

// As a silent monitor nobody hears him.
TEST_F(SidebarE2eTest, AMonitorJoiningASidebarMemberListensInsideTheSidebar) {
  supervisor_joins_sidebar(1, "wb", "monitor", /*alice_hears=*/false);
}

}  // namespace
}  // namespace chorus::focus

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
