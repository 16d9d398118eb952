#!/usr/bin/env python3
"""deploy/chorusctl against a live admin listener (tests/admin/admin_fixture):
every command (admit / refuse / pickup on the fixture's waiting callers 3, 4,
5; move into another room; sidebar create / add / remove / dissolve; merge
and split rooms), --json, the token from --token and CHORUS_TOKEN, API refusals
(exit 1 with the API's message), usage errors (exit 2), an unreachable focus
(exit 3).

  chorusctl_test.py <admin_fixture> <chorusctl>
"""

import json
import os
import subprocess
import sys
import threading
import unittest

FIXTURE = CTL = None
TOKEN = "ctl-token"


class Chorusctl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fixture = subprocess.Popen([FIXTURE, TOKEN], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        line = cls.fixture.stdout.readline().split()
        assert line and line[0] == "port", line
        cls.url = "http://127.0.0.1:" + line[1]
        # The action lines the fixture prints ("mute 2 1", "admit 3", ...).
        cls.printed = []
        cls.printed_lock = threading.Condition()
        cls.reader = threading.Thread(target=cls.read_actions, daemon=True)
        cls.reader.start()

    @classmethod
    def tearDownClass(cls):
        cls.fixture.stdin.close()
        try:
            cls.fixture.wait(timeout=10)
        except subprocess.TimeoutExpired:
            cls.fixture.kill()
            cls.fixture.wait()

    def ctl(self, *args, token=TOKEN, env_token=None, url=None):
        env = dict(os.environ)
        env.pop("CHORUS_TOKEN", None)
        env.pop("CHORUS_URL", None)
        if env_token is not None:
            env["CHORUS_TOKEN"] = env_token
        cmd = [sys.executable, CTL, "--url", url or self.url, "--timeout", "5"]
        if token is not None:
            cmd += ["--token", token]
        done = subprocess.run(cmd + list(args), capture_output=True, text=True, env=env,
                              timeout=30)
        return done.returncode, done.stdout, done.stderr

    def member(self, member_id):
        code, out, _ = self.ctl("--json", "show", "demo")
        self.assertEqual(code, 0)
        for m in json.loads(out)["members"]:
            if m["id"] == member_id:
                return m
        return None

    @classmethod
    def read_actions(cls):
        for line in cls.fixture.stdout:
            with cls.printed_lock:
                cls.printed.append(line.rstrip("\n"))
                cls.printed_lock.notify_all()

    def wait_printed(self, line, timeout=5):
        """Waits for the fixture to print `line` (it prints each action
        before answering it, so it is due by the time chorusctl returns)."""
        with self.printed_lock:
            self.printed_lock.wait_for(lambda: line in self.printed, timeout=timeout)
            self.assertIn(line, self.printed)

    def waiting_room_actions(self):
        with self.printed_lock:
            return [l for l in self.printed if l.partition(" ")[0] in ("admit", "refuse", "pickup")]

    def test_01_rooms_lists_members(self):
        code, out, err = self.ctl("rooms")
        self.assertEqual(code, 0, err)
        self.assertIn("demo", out)
        self.assertIn("Alice <sip:alice@127.0.0.1>", out)
        self.assertIn("Bob <sip:bob@127.0.0.1>", out)
        code, out, _ = self.ctl("--json", "rooms")
        self.assertEqual(code, 0)
        self.assertEqual([r["room"] for r in json.loads(out)], ["demo"])

    def test_02_token_from_the_environment(self):
        code, out, _ = self.ctl("show", "demo", token=None, env_token=TOKEN)
        self.assertEqual(code, 0)
        self.assertIn("Alice", out)
        code, _, err = self.ctl("rooms", token="wrong")
        self.assertEqual(code, 1)
        self.assertIn("401", err)
        self.assertIn("bearer token", err)

    def test_03_mute_unmute(self):
        self.assertEqual(self.ctl("mute", "demo", "2")[0], 0)
        self.assertTrue(self.member(2)["muted"])
        code, out, _ = self.ctl("show", "demo")
        self.assertIn("muted", out)
        self.assertEqual(self.ctl("unmute", "demo", "2")[0], 0)
        self.assertFalse(self.member(2)["muted"])

    def test_04_hold_resume(self):
        self.assertEqual(self.ctl("hold", "demo", "2")[0], 0)
        self.assertTrue(self.member(2)["hold"])
        self.assertEqual(self.ctl("resume", "demo", "2")[0], 0)
        self.assertFalse(self.member(2)["hold"])

    def test_05_roles(self):
        self.assertEqual(self.ctl("role", "demo", "2", "monitor")[0], 0)
        self.assertEqual(self.member(2)["role"], "monitor")
        self.assertEqual(self.ctl("role", "demo", "2", "whisper", "1")[0], 0)
        self.assertEqual(self.member(2)["role"], "whisper")
        self.assertEqual(self.member(2)["whisper_target_id"], 1)
        code, out, _ = self.ctl("show", "demo")
        self.assertIn("whisper->1", out)
        code, _, err = self.ctl("role", "demo", "2", "whisper", "77")
        self.assertEqual(code, 1)
        self.assertIn("409", err)
        self.assertNotEqual(self.ctl("role", "demo", "2", "whisper")[0], 0)
        self.assertEqual(self.ctl("role", "demo", "2", "king")[0], 2)
        self.assertEqual(self.ctl("role", "demo", "2", "participant")[0], 0)

    def test_06_dial_and_kick(self):
        code, out, _ = self.ctl("dial", "demo", "sip:carol@127.0.0.1")
        self.assertEqual(code, 0)
        self.assertIn("calling", out)
        members = json.loads(self.ctl("--json", "show", "demo")[1])["members"]
        carol = [m for m in members if m["entity"] == "sip:carol@127.0.0.1"]
        self.assertEqual(len(carol), 1)
        self.assertEqual(self.ctl("kick", "demo", str(carol[0]["id"]))[0], 0)
        self.assertIsNone(self.member(carol[0]["id"]))
        code, _, err = self.ctl("dial", "demo", "http://nope")
        self.assertEqual(code, 1)
        self.assertIn("400", err)

    def test_07_unknown_things(self):
        code, _, err = self.ctl("mute", "demo", "99")
        self.assertEqual(code, 1)
        self.assertIn("404", err)
        self.assertEqual(self.ctl("show", "nowhere")[0], 1)
        self.assertEqual(self.ctl("mute", "demo", "abc")[0], 2)
        self.assertEqual(self.ctl("mute", "demo", "0")[0], 2)
        self.assertEqual(self.ctl("frobnicate")[0], 2)

    def test_08_metrics(self):
        code, out, _ = self.ctl("metrics", token=None)
        self.assertEqual(code, 0)
        self.assertIn("# TYPE chorus_rooms gauge", out)
        self.assertIn("chorus_members 5", out)

    def test_10_admit(self):
        before = self.member(3)
        self.assertTrue(before["waiting"])
        self.assertEqual(before["status"], "pending")
        code, out, err = self.ctl("admit", "demo", "3")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "ok: admitted\n")
        self.wait_printed("admit 3")
        after = self.member(3)
        self.assertFalse(after["waiting"])
        self.assertEqual(after["status"], "connected")
        # Admitted once: no longer in the waiting room.
        code, _, err = self.ctl("admit", "demo", "3")
        self.assertEqual(code, 1)
        self.assertIn("409 member is not in the waiting room", err)

    def test_11_refuse(self):
        code, out, _ = self.ctl("--json", "refuse", "demo", "4")
        self.assertEqual(code, 0)
        self.assertEqual(json.loads(out)["message"], "refused")
        self.wait_printed("refuse 4")
        self.assertIsNone(self.member(4))
        code, _, err = self.ctl("refuse", "demo", "1")
        self.assertEqual(code, 1)
        self.assertIn("409 member is not in the waiting room", err)
        self.assertIsNotNone(self.member(1))

    def test_12_pickup(self):
        code, _, err = self.ctl("pickup", "demo", "5", "http://desk")
        self.assertEqual(code, 1)
        self.assertIn("400", err)
        self.assertEqual(self.ctl("pickup", "demo", "5")[0], 2)  # no URI
        self.assertTrue(self.member(5)["waiting"])
        code, out, err = self.ctl("pickup", "demo", "5", "sip:desk@127.0.0.1")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "ok: picked up\n")
        self.wait_printed("pickup 5 sip:desk@127.0.0.1")
        self.assertIsNone(self.member(5))

    def test_13_waiting_room_refusals(self):
        for args in (("admit", "demo", "99"), ("refuse", "demo", "99"),
                     ("pickup", "demo", "99", "sip:desk@127.0.0.1"),
                     ("admit", "nowhere", "1")):
            code, out, err = self.ctl(*args)
            self.assertEqual(code, 1, args)
            self.assertEqual(out, "", args)
            self.assertIn("404 no such member", err, args)
        self.assertEqual(self.ctl("refuse", "demo", "abc")[0], 2)
        # Only the successful actions reached the Control.
        self.assertEqual(self.waiting_room_actions(),
                         ["admit 3", "refuse 4", "pickup 5 sip:desk@127.0.0.1"])

    def test_14_record(self):
        code, out, err = self.ctl("record", "demo", "start")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "ok: recording\n")
        self.wait_printed("record-start 0")
        code, out, _ = self.ctl("rooms")
        self.assertIn("[recording]", out)
        code, _, err = self.ctl("record", "demo", "start")
        self.assertEqual(code, 1)
        self.assertIn("409", err)
        self.assertEqual(self.ctl("record", "nowhere", "start")[0], 1)
        self.assertEqual(self.ctl("record", "demo", "pause")[0], 2)  # usage
        code, out, err = self.ctl("record", "demo", "stop")
        self.assertEqual(code, 0, err)
        self.wait_printed("record-stop 0")
        code, out, _ = self.ctl("rooms")
        self.assertNotIn("[recording]", out)

    def room(self, name):
        code, out, err = self.ctl("--json", "show", name)
        self.assertEqual(code, 0, err)
        return json.loads(out)

    def test_15_move(self):
        # Refusals first: nothing moves.
        code, _, err = self.ctl("move", "demo", "2", "locked")
        self.assertEqual(code, 1)
        self.assertIn("403 PIN required", err)
        code, _, err = self.ctl("move", "demo", "2", "locked", "--pin", "0000")
        self.assertEqual(code, 1)
        self.assertIn("403 wrong PIN", err)
        code, _, err = self.ctl("move", "demo", "99", "sales")
        self.assertEqual(code, 1)
        self.assertIn("404 no such member", err)
        code, _, err = self.ctl("move", "demo", "2", "demo")
        self.assertEqual(code, 1)
        self.assertIn("409", err)
        self.assertEqual(self.ctl("move", "demo", "x", "sales")[0], 2)  # usage
        self.assertIsNotNone(self.member(2))
        # Bob moves to "sales": gone from demo, listed under sales.
        code, out, err = self.ctl("move", "demo", "2", "sales")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "ok: moving to sales\n")
        self.wait_printed("move 2 sales -")
        self.assertIsNone(self.member(2))
        self.assertEqual([m["id"] for m in self.room("sales")["members"]], [2])
        code, out, _ = self.ctl("rooms")
        self.assertIn("sales", out)
        # With the PIN a dialled-in member gets into "locked".
        self.assertEqual(self.ctl("dial", "demo", "sip:gina@127.0.0.1")[0], 0)
        gina = [m for m in self.room("demo")["members"] if m["entity"] == "sip:gina@127.0.0.1"]
        code, _, err = self.ctl("move", "demo", str(gina[0]["id"]), "locked", "--pin", "1234")
        self.assertEqual(code, 0, err)
        self.wait_printed("move %d locked 1234" % gina[0]["id"])
        self.assertEqual([m["entity"] for m in self.room("locked")["members"]],
                         ["sip:gina@127.0.0.1"])

    def test_16_sidebars(self):
        # Alice (1) and the admitted caller 3 are in demo.
        code, out, err = self.ctl("sidebar", "demo", "create", "huddle", "--member", "1")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "ok: sidebar 1 sip:demo@127.0.0.1;sidebar=1\n")
        self.wait_printed("sidebar-create 1 huddle")
        room = self.room("demo")
        self.assertEqual([(s["id"], s["name"], s["members"], s["whisper_main"])
                          for s in room["sidebars"]], [(1, "huddle", [1], False)])
        self.assertEqual(self.member(1)["sidebar"], 1)
        code, out, err = self.ctl("sidebar", "demo", "add", "1", "3")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "ok: in the sidebar\n")
        self.assertEqual(self.room("demo")["sidebars"][0]["members"], [1, 3])
        code, out, _ = self.ctl("rooms")
        self.assertIn('sidebar 1 "huddle"  sip:demo@127.0.0.1;sidebar=1  members 1, 3', out)
        self.assertIn("sidebar:1", out)
        # A whispering sidebar; adding 3 there takes it out of "huddle".
        code, out, err = self.ctl("--json", "sidebar", "demo", "create", "corner", "--whisper")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["id"], 2)
        self.assertEqual(self.ctl("sidebar", "demo", "add", "2", "3")[0], 0)
        sidebars = {s["id"]: s for s in self.room("demo")["sidebars"]}
        self.assertEqual(sidebars[1]["members"], [1])
        self.assertEqual(sidebars[2]["members"], [3])
        self.assertTrue(sidebars[2]["whisper_main"])
        self.assertIn("[heard by the main room]", self.ctl("show", "demo")[1])
        # Refusals: the API's answer, exit 1; bad ids are usage errors.
        code, _, err = self.ctl("sidebar", "demo", "remove", "1", "3")
        self.assertEqual(code, 1)
        self.assertIn("404 the member is not in that sidebar", err)
        code, _, err = self.ctl("sidebar", "demo", "create", "huddle")
        self.assertEqual(code, 1)
        self.assertIn("409", err)
        code, _, err = self.ctl("sidebar", "demo", "add", "9", "1")
        self.assertEqual(code, 1)
        self.assertIn("404 no such sidebar", err)
        self.assertEqual(self.ctl("sidebar", "demo", "dissolve", "x")[0], 2)
        self.assertEqual(self.ctl("sidebar", "demo", "add", "1")[0], 2)
        self.assertEqual(self.ctl("sidebar", "demo", "split", "1")[0], 2)
        # Out again, then both dissolved: everyone back in the main room.
        code, out, err = self.ctl("sidebar", "demo", "remove", "2", "3")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "ok: back in the main room\n")
        self.assertEqual(self.member(3)["sidebar"], 0)
        code, out, err = self.ctl("sidebar", "demo", "dissolve", "1")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "ok: dissolved\n")
        self.wait_printed("sidebar-dissolve 1")
        self.assertEqual(self.member(1)["sidebar"], 0)
        self.assertEqual(self.ctl("sidebar", "demo", "dissolve", "2")[0], 0)
        self.assertEqual(self.room("demo")["sidebars"], [])
        code, _, err = self.ctl("sidebar", "demo", "dissolve", "1")
        self.assertEqual(code, 1)
        self.assertIn("404 no such sidebar", err)
        self.assertNotIn("sidebar", self.ctl("rooms")[1])

    def test_17_merge(self):
        # Refusals first: nothing moves.
        code, _, err = self.ctl("merge", "nowhere", "sales")
        self.assertEqual(code, 1)
        self.assertIn("404 no such room", err)
        code, _, err = self.ctl("merge", "demo", "demo")
        self.assertEqual(code, 1)
        self.assertIn("409", err)
        code, _, err = self.ctl("merge", "demo", "locked")
        self.assertEqual(code, 1)
        self.assertIn("403 PIN required", err)
        self.assertEqual(self.ctl("merge", "demo")[0], 2)  # usage
        # Alice (1) and the admitted caller 3 are demo's members (Bob went
        # to sales, gina to locked in test_15; nobody waits any more).
        self.assertEqual([m["id"] for m in self.room("demo")["members"]], [1, 3])
        code, out, err = self.ctl("merge", "demo", "sales")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "ok: moving 2 to sales\n")
        self.wait_printed("merge 0 sales -")
        self.assertEqual([m["id"] for m in self.room("sales")["members"]], [2, 1, 3])
        self.assertEqual(self.ctl("show", "demo")[0], 1)  # left empty, it ended
        # With the PIN, sales merges into locked.
        gina = [m["id"] for m in self.room("locked")["members"]]
        code, out, err = self.ctl("--json", "merge", "sales", "locked", "--pin", "1234")
        self.assertEqual(code, 0, err)
        self.assertEqual(json.loads(out)["moving"], [2, 1, 3])
        self.assertEqual(json.loads(out)["stayed"], [])
        self.wait_printed("merge 0 locked 1234")
        self.assertEqual([m["id"] for m in self.room("locked")["members"]], gina + [2, 1, 3])

    def test_18_split(self):
        # Alice (1) and caller 3, merged into locked by test_17, split off
        # into demo (opened again).
        code, _, err = self.ctl("split", "locked", "demo", "1", "99")
        self.assertEqual(code, 1)
        self.assertIn("400 no member 99 in room locked", err)
        self.assertEqual(self.ctl("split", "locked", "demo")[0], 2)  # usage: no id
        self.assertEqual(self.ctl("split", "locked", "demo", "x")[0], 2)
        code, out, err = self.ctl("split", "locked", "demo", "1", "3")
        self.assertEqual(code, 0, err)
        self.assertEqual(out, "ok: moving 2 to demo\n")
        self.wait_printed("split 0 demo 1,3")
        self.assertEqual([m["id"] for m in self.room("demo")["members"]], [1, 3])
        self.assertNotIn(1, [m["id"] for m in self.room("locked")["members"]])

    def test_09_unreachable(self):
        code, _, err = self.ctl("rooms", url="http://127.0.0.1:9")
        self.assertEqual(code, 3)
        self.assertIn("cannot reach", err)


if __name__ == "__main__":
    FIXTURE, CTL = sys.argv[1], sys.argv[2]
    unittest.main(argv=[sys.argv[0], "-v"])
