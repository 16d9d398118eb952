// Issue #17 "Recording": the tap copies a room's mix (and each member's own
// audio) into a ring on the tick; record::Writer turns it into files whose
// tracks line up with the mix sample for sample. Audio is checked on real
// signals: one tone per member, Goertzel energies of the written files.
#include <gtest/gtest.h>
#include <sndfile.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mixer/goertzel.hpp"
#include "mixer/recording.hpp"
#include "record/writer.hpp"
#include "tests/mixer/conference_harness.hpp"

namespace chorus::record {
namespace {

using mixer::ParticipantId;
using mixer::RecordingBuffer;
using mixer::RecordingTap;
using mixer::testing::ConferenceHarness;

constexpr int kFileRate = 16000;
constexpr size_t kFrame = kFileRate / 50;  // samples per 20 ms in the files

std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("chorus-rec-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::vector<int16_t> read_wav(const std::string& path, int* rate = nullptr) {
  SF_INFO info{};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (f == nullptr) return {};
  std::vector<int16_t> pcm(static_cast<size_t>(info.frames));
  sf_read_short(f, pcm.data(), info.frames);
  sf_close(f);
  if (rate != nullptr) *rate = info.samplerate;
  return pcm;
}

double tone(const std::vector<int16_t>& pcm, double hz, size_t from_frame, size_t to_frame) {
  to_frame = std::min(to_frame, pcm.size() / kFrame);
  if (from_frame >= to_frame) return 0.0;
  return mixer::goertzel_amplitude(
      std::span(pcm).subspan(from_frame * kFrame, (to_frame - from_frame) * kFrame), hz, kFileRate);
}

// First sample whose magnitude passes `threshold`, or SIZE_MAX.
size_t onset(const std::vector<int16_t>& pcm, int threshold) {
  for (size_t i = 0; i < pcm.size(); ++i) {
    if (std::abs(pcm[i]) > threshold) return i;
  }
  return SIZE_MAX;
}

WriterEvent wait_event(Writer& writer, int passes = 5) {
  WriterEvent e;
  for (int i = 0; i < passes; ++i) {
    if (writer.poll(e)) return e;
    writer.run_once();
  }
  e.kind = WriterEvent::Kind::kFailed;
  e.error = "no event";
  e.id = UINT64_MAX;
  return e;
}

// Three talkers (one joins 3 s in) and a whisperer: the mix holds the
// talkers, not the whisper; each member track holds only its member, the
// late joiner's from 3 s on, all files exactly as long as the mix.
TEST(Recording, MixHoldsEveryTalkerAndEachTrackOnlyItsMemberAlignedOnT0) {
  ConferenceHarness room(mixer::testing::config(3));
  room.add(1, 440.0);
  room.add(2, 1000.0);
  mixer::ParticipantSettings whisper;
  whisper.role = mixer::Role::kWhisper;
  whisper.whisper_targets = {1};
  room.add(4, 2500.0, whisper);

  auto buffer = std::make_shared<RecordingBuffer>(mixer::RecordingOptions{.member_tracks = true});
  RecordingTap tap;
  tap.start(buffer);
  const auto dir = temp_dir("mix");
  Writer writer;
  ASSERT_TRUE(writer.submit(Job{.id = 7,
                                .buffer = buffer,
                                .prefix = (dir / "room").string(),
                                .format = Format::kWav,
                                .sample_rate = kFileRate}));
  constexpr uint64_t kJoinTick = 150;  // 3 s
  constexpr uint64_t kTicks = 300;
  for (uint64_t t = 0; t < kTicks; ++t) {
    if (t == kJoinTick) room.add(3, 1700.0);
    room.step(false);
    tap.capture(room.conference, 1000 + t);  // t0 is the first captured tick
    if (t % 40 == 0) writer.run_once();
  }
  EXPECT_TRUE(tap.stop());
  const WriterEvent done = wait_event(writer);
  ASSERT_EQ(done.kind, WriterEvent::Kind::kFinished) << done.error;
  EXPECT_EQ(done.id, 7u);
  EXPECT_EQ(done.ticks, kTicks);
  EXPECT_EQ(done.frames_dropped, 0u);
  EXPECT_EQ(buffer->frames_dropped(), 0u);

  int rate = 0;
  const auto mix = read_wav((dir / "room-mix.wav").string(), &rate);
  const auto a = read_wav((dir / "room-member-1.wav").string());
  const auto b = read_wav((dir / "room-member-2.wav").string());
  const auto c = read_wav((dir / "room-member-3.wav").string());
  const auto w = read_wav((dir / "room-member-4.wav").string());
  EXPECT_EQ(rate, kFileRate);
  // Every file spans t0 .. stop, sample for sample.
  ASSERT_EQ(mix.size(), kTicks * kFrame);
  EXPECT_EQ(a.size(), mix.size());
  EXPECT_EQ(b.size(), mix.size());
  EXPECT_EQ(c.size(), mix.size());
  EXPECT_EQ(w.size(), mix.size());

  // The mix: every talker at its level (6000 in, 3 talkers under the
  // limiter's ceiling), the late joiner only after it joined, no whisper.
  EXPECT_GT(tone(mix, 440, 10, 290), 4000.0);
  EXPECT_GT(tone(mix, 1000, 10, 290), 4000.0);
  EXPECT_GT(tone(mix, 1700, 160, 290), 4000.0);
  EXPECT_LT(tone(mix, 1700, 0, 145), 50.0);
  EXPECT_LT(tone(mix, 2500, 0, 300), 50.0);

  // Each track: its member only.
  EXPECT_GT(tone(a, 440, 10, 290), 4000.0);
  EXPECT_LT(tone(a, 1000, 10, 290), 50.0);
  EXPECT_LT(tone(a, 1700, 160, 290), 50.0);
  EXPECT_GT(tone(b, 1000, 10, 290), 4000.0);
  EXPECT_LT(tone(b, 440, 10, 290), 50.0);
  EXPECT_GT(tone(c, 1700, 160, 290), 4000.0);
  EXPECT_LT(tone(c, 440, 160, 290), 50.0);
  EXPECT_LT(tone(c, 1000, 160, 290), 50.0);
  // A whisper is not the room's audio: its track stays silent.
  EXPECT_EQ(onset(w, 0), SIZE_MAX);

  // The late joiner: digital silence before its join, its tone from 3 s on
  // (within one frame), at the same sample in its track and in the mix.
  const size_t joined = onset(c, 1000);
  ASSERT_NE(joined, SIZE_MAX);
  EXPECT_GE(joined, kJoinTick * kFrame);
  EXPECT_LT(joined, (kJoinTick + 1) * kFrame);
  for (size_t i = 0; i < kJoinTick * kFrame; ++i) ASSERT_EQ(c[i], 0) << i;
  // In the mix the same tone enters at the same frame, after talker
  // detection and the entry ramp.
  size_t in_mix = SIZE_MAX;
  for (size_t f = kJoinTick - 5; f < kJoinTick + 10 && in_mix == SIZE_MAX; ++f) {
    if (tone(mix, 1700, f, f + 1) > 1000.0) in_mix = f;
  }
  EXPECT_GE(in_mix, kJoinTick);
  EXPECT_LE(in_mix, kJoinTick + 3);  // within 60 ms
  std::filesystem::remove_all(dir);
}

// The notice tone (recording started) reaches the listeners and the file.
TEST(Recording, NoticeToneIsHeardByMembersAndRecorded) {
  ConferenceHarness room(mixer::testing::config(3));
  room.add(1, 440.0);
  room.add(2, 1000.0);
  room.set_speaking(2, false);
  room.run(20, 0);
  mixer::NoticeTone notice;
  notice.frequency_hz = 1400.0;
  notice.beeps = 2;
  notice.beep_ms = 200;
  notice.gap_ms = 100;
  room.conference.play_notice(notice);
  room.run(10, 10);                          // the first 200 ms: the first beep
  EXPECT_GT(room.heard(2, 1400.0), 1500.0);  // a listener
  EXPECT_GT(room.heard(1, 1400.0), 1500.0);  // the talker too
  room.run(40, 20);                          // long after: gone
  EXPECT_LT(room.heard(2, 1400.0), 20.0);
}

// A full ring drops frames and counts them, never blocks, and the room's
// audio goes on; the writer fills the gap with silence, so what follows
// still lands at its wall-clock position.
TEST(Recording, FullRingDropsAndCountsWhileTheCallGoesOn) {
  ConferenceHarness room(mixer::testing::config(3));
  room.add(1, 440.0);
  room.add(2, 1000.0);
  auto buffer = std::make_shared<RecordingBuffer>();
  buffer->set_ring_capacity(8);
  RecordingTap tap;
  tap.start(buffer);
  for (uint64_t t = 0; t < 20; ++t) {  // nobody drains: 12 of 20 are dropped
    room.step(t >= 10);
    tap.capture(room.conference, t);
  }
  EXPECT_EQ(buffer->frames_pushed(), 8u);
  EXPECT_EQ(buffer->frames_dropped(), 12u);
  // The call's audio is unaffected.
  EXPECT_GT(room.hears(2, 1), 3000.0);
  EXPECT_GT(room.hears(1, 2), 3000.0);

  const auto dir = temp_dir("full");
  Writer writer;
  ASSERT_TRUE(writer.submit(Job{.id = 1,
                                .buffer = buffer,
                                .prefix = (dir / "r").string(),
                                .format = Format::kWav,
                                .sample_rate = kFileRate}));
  writer.run_once();
  // The writer counts the drops while the recording runs (/metrics:
  // chorus_recordings_frames_dropped_total) and says so once (a warning).
  EXPECT_EQ(writer.frames_dropped(), 12u);
  WriterEvent dropping;
  ASSERT_TRUE(writer.poll(dropping));
  EXPECT_EQ(dropping.kind, WriterEvent::Kind::kDropping);
  EXPECT_EQ(dropping.id, 1u);
  EXPECT_EQ(dropping.frames_dropped, 12u);
  for (uint64_t t = 20; t < 30; ++t) {  // drained as it goes: nothing more dropped
    room.step(false);
    tap.capture(room.conference, t);
    writer.run_once();
  }
  tap.stop();
  const WriterEvent done = wait_event(writer);
  ASSERT_EQ(done.kind, WriterEvent::Kind::kFinished) << done.error;
  EXPECT_EQ(done.frames_dropped, 12u);
  EXPECT_EQ(writer.frames_dropped(), 12u);
  // More drops later in the same recording: counted, not announced again.
  auto more = std::make_shared<RecordingBuffer>();
  more->set_ring_capacity(2);
  tap.start(more);
  ASSERT_TRUE(writer.submit(Job{.id = 2,
                                .buffer = more,
                                .prefix = (dir / "s").string(),
                                .format = Format::kWav,
                                .sample_rate = kFileRate}));
  for (int pass = 0; pass < 2; ++pass) {
    for (uint64_t t = 0; t < 5; ++t) {
      room.step(false);
      tap.capture(room.conference, 40 + pass * 5 + t);
    }
    writer.run_once();
  }
  EXPECT_EQ(writer.frames_dropped(), 12u + 6u);
  tap.stop();
  const WriterEvent first = wait_event(writer);
  EXPECT_EQ(first.kind, WriterEvent::Kind::kDropping);
  EXPECT_EQ(first.frames_dropped, 3u);
  const WriterEvent second = wait_event(writer);
  EXPECT_EQ(second.kind, WriterEvent::Kind::kFinished) << second.error;
  EXPECT_EQ(second.frames_dropped, 6u);
  const auto mix = read_wav((dir / "r-mix.wav").string());
  ASSERT_EQ(mix.size(), 30 * kFrame);
  EXPECT_GT(tone(mix, 440, 2, 8), 3000.0);
  for (size_t i = 8 * kFrame; i < 20 * kFrame; ++i) ASSERT_EQ(mix[i], 0) << i;  // the gap
  EXPECT_GT(tone(mix, 440, 20, 30), 3000.0);
  std::filesystem::remove_all(dir);
}

// A recording that cannot be written (here: its directory is a file; the
// tests run as root, so permissions would not stop them) ends with an
// event; the tap stops queueing and the call goes on.
TEST(Recording, UnwritableDirectoryFailsTheRecordingNotTheCall) {
  ConferenceHarness room(mixer::testing::config(3));
  room.add(1, 440.0);
  room.add(2, 1000.0);
  const auto dir = temp_dir("fail");
  std::ofstream(dir / "not-a-dir") << "x";
  auto buffer = std::make_shared<RecordingBuffer>();
  RecordingTap tap;
  tap.start(buffer);
  Writer writer;
  ASSERT_TRUE(writer.submit(Job{.id = 9,
                                .buffer = buffer,
                                .prefix = (dir / "not-a-dir" / "sub" / "r").string(),
                                .format = Format::kOggOpus}));
  const WriterEvent failed = wait_event(writer);
  ASSERT_EQ(failed.kind, WriterEvent::Kind::kFailed);
  EXPECT_EQ(failed.id, 9u);
  EXPECT_NE(failed.error.find("not-a-dir"), std::string::npos) << failed.error;
  EXPECT_TRUE(buffer->failed());
  EXPECT_EQ(writer.recordings_failed(), 1u);
  for (uint64_t t = 0; t < 20; ++t) {
    room.step(t >= 10);
    tap.capture(room.conference, t);
  }
  EXPECT_EQ(buffer->frames_pushed(), 0u);  // nothing queued for nobody
  EXPECT_GT(room.hears(2, 1), 3000.0);
  EXPECT_GT(room.hears(1, 2), 3000.0);
  std::filesystem::remove_all(dir);
}

// Sidebars (README "Recording"): the recording is what the main room
// hears. A sidebar that keeps to itself is neither in the mix nor in its
// members' own tracks (its talk is private); one that whispers into the
// main room is in both.
TEST(Recording, ASidebarsPrivateTalkIsInNoFile) {
  ConferenceHarness room(mixer::testing::config(5));
  room.add(1, 440.0);
  room.add(2, 1000.0);
  mixer::ParticipantSettings apart;
  apart.sidebar = 7;
  room.add(3, 1700.0, apart);
  room.add(4, 2500.0, apart);
  mixer::ParticipantSettings whispering;
  whispering.sidebar = 8;
  whispering.sidebar_whisper_main = true;
  room.add(5, 3100.0, whispering);

  auto buffer = std::make_shared<RecordingBuffer>(mixer::RecordingOptions{.member_tracks = true});
  RecordingTap tap;
  tap.start(buffer);
  const auto dir = temp_dir("sidebar");
  Writer writer;
  ASSERT_TRUE(writer.submit(Job{.id = 5,
                                .buffer = buffer,
                                .prefix = (dir / "room").string(),
                                .format = Format::kWav,
                                .sample_rate = kFileRate}));
  constexpr uint64_t kTicks = 100;
  for (uint64_t t = 0; t < kTicks; ++t) {
    room.step(t >= 50);
    tap.capture(room.conference, t);
    if (t % 40 == 0) writer.run_once();
  }
  // The room itself works: the sidebar's members hear each other.
  ASSERT_GT(room.hears(3, 4), 3000.0);
  EXPECT_TRUE(tap.stop());
  const WriterEvent done = wait_event(writer);
  ASSERT_EQ(done.kind, WriterEvent::Kind::kFinished) << done.error;

  const auto mix = read_wav((dir / "room-mix.wav").string());
  ASSERT_EQ(mix.size(), kTicks * kFrame);
  EXPECT_GT(tone(mix, 440, 10, 90), 3000.0);
  EXPECT_GT(tone(mix, 1000, 10, 90), 3000.0);
  EXPECT_GT(tone(mix, 3100, 10, 90), 3000.0);  // whispers into the main room
  EXPECT_LT(tone(mix, 1700, 0, 100), 50.0);
  EXPECT_LT(tone(mix, 2500, 0, 100), 50.0);
  for (const ParticipantId apart_member : {3, 4}) {
    const auto track =
        read_wav((dir / ("room-member-" + std::to_string(apart_member) + ".wav")).string());
    EXPECT_EQ(track.size(), mix.size()) << apart_member;
    EXPECT_EQ(onset(track, 0), SIZE_MAX) << apart_member;  // digital silence
  }
  const auto whisperer = read_wav((dir / "room-member-5.wav").string());
  EXPECT_GT(tone(whisperer, 3100, 10, 90), 4000.0);
  const auto main = read_wav((dir / "room-member-1.wav").string());
  EXPECT_GT(tone(main, 440, 10, 90), 4000.0);
  std::filesystem::remove_all(dir);
}

// The writer pads silence a bounded number of frames per pass: a member
// who joins late and one who leaves early are padded across several passes
// and still line up with the mix sample for sample.
TEST(Recording, PaddingSpreadsOverPassesAndKeepsTracksAligned) {
  ConferenceHarness room(mixer::testing::config(3));
  room.add(1, 440.0);
  auto buffer = std::make_shared<RecordingBuffer>(mixer::RecordingOptions{.member_tracks = true});
  RecordingTap tap;
  tap.start(buffer);
  const auto dir = temp_dir("pad");
  constexpr size_t kBudget = 10;  // silence frames per pass
  Writer writer(std::chrono::milliseconds(20), kBudget);
  ASSERT_TRUE(writer.submit(Job{.id = 6,
                                .buffer = buffer,
                                .prefix = (dir / "room").string(),
                                .format = Format::kWav,
                                .sample_rate = kFileRate}));
  constexpr uint64_t kJoin = 60;
  constexpr uint64_t kLeave = 80;
  constexpr uint64_t kTicks = 100;
  for (uint64_t t = 0; t < kTicks; ++t) {
    if (t == kJoin) room.add(2, 1000.0);
    if (t == kLeave) room.remove(1);
    room.step(false);
    tap.capture(room.conference, t);
    if (t == kJoin + 5) writer.run_once();  // 60 frames of silence due at once
  }
  EXPECT_TRUE(tap.stop());
  // 60 frames before member 2 and 20 after member 1, 10 a pass.
  size_t passes = 0;
  WriterEvent done;
  while (!writer.poll(done) && passes < 100) {
    writer.run_once();
    ++passes;
  }
  EXPECT_GE(passes, 6u);
  ASSERT_EQ(done.kind, WriterEvent::Kind::kFinished) << done.error;
  EXPECT_EQ(done.ticks, kTicks);

  const auto mix = read_wav((dir / "room-mix.wav").string());
  const auto a = read_wav((dir / "room-member-1.wav").string());
  const auto b = read_wav((dir / "room-member-2.wav").string());
  ASSERT_EQ(mix.size(), kTicks * kFrame);
  EXPECT_EQ(a.size(), mix.size());
  EXPECT_EQ(b.size(), mix.size());
  // Member 2: silence to the frame it joined, then its tone.
  const size_t joined = onset(b, 1000);
  ASSERT_NE(joined, SIZE_MAX);
  EXPECT_GE(joined, kJoin * kFrame);
  EXPECT_LT(joined, (kJoin + 1) * kFrame);
  for (size_t i = 0; i < kJoin * kFrame; ++i) ASSERT_EQ(b[i], 0) << i;
  EXPECT_GT(tone(b, 1000, kJoin + 1, kTicks), 4000.0);
  // Member 1: its tone to the frame it left, silence after.
  EXPECT_GT(tone(a, 440, 5, kLeave), 4000.0);
  for (size_t i = kLeave * kFrame; i < a.size(); ++i) ASSERT_EQ(a[i], 0) << i;
  std::filesystem::remove_all(dir);
}

// A member who leaves: its file is padded idle_ticks past its last frame and
// closed while the recording runs on (files and encoders stay bounded by the
// members present). Files are named by the participant's label (the focus's
// member id); the same member's next participant (a Replaces) gets `-2`,
// starting at t0 like every track.
TEST(Recording, ADepartedMembersFileClosesAndItsNextCallGetsAFileOfItsOwn) {
  ConferenceHarness room(mixer::testing::config(3));
  mixer::ParticipantSettings first;
  first.label = 501;
  room.add(1, 440.0, first);
  mixer::ParticipantSettings second;
  second.label = 502;
  room.add(2, 1000.0, second);
  auto buffer = std::make_shared<RecordingBuffer>(mixer::RecordingOptions{.member_tracks = true});
  RecordingTap tap;
  tap.start(buffer);
  const auto dir = temp_dir("idle");
  constexpr uint64_t kIdle = 20;
  Writer writer(std::chrono::milliseconds(20), Writer::kPadFramesPerPass, kIdle);
  ASSERT_TRUE(writer.submit(Job{.id = 9,
                                .buffer = buffer,
                                .prefix = (dir / "room").string(),
                                .format = Format::kWav,
                                .sample_rate = kFileRate}));
  constexpr uint64_t kLeave = 40;
  constexpr uint64_t kReturn = 100;
  constexpr uint64_t kTicks = 160;
  const std::string left = (dir / "room-member-502.wav").string();
  for (uint64_t t = 0; t < kTicks; ++t) {
    if (t == kLeave) room.remove(2);
    if (t == kReturn) {
      // Closed while the recording runs: complete and readable now.
      EXPECT_EQ(writer.tracks_closed(), 1u);
      const auto gone = read_wav(left);
      ASSERT_EQ(gone.size(), (kLeave + kIdle) * kFrame);
      room.add(3, 1700.0, second);
    }
    room.step(false);
    tap.capture(room.conference, t);
    if (t % 10 == 0) writer.run_once();
  }
  EXPECT_TRUE(tap.stop());
  const WriterEvent done = wait_event(writer);
  ASSERT_EQ(done.kind, WriterEvent::Kind::kFinished) << done.error;
  EXPECT_EQ(done.ticks, kTicks);
  EXPECT_EQ(done.files.size(), 4u);
  EXPECT_EQ(writer.tracks_closed(), 1u);

  const auto mix = read_wav((dir / "room-mix.wav").string());
  const auto stayed = read_wav((dir / "room-member-501.wav").string());
  const auto gone = read_wav(left);
  const auto back = read_wav((dir / "room-member-502-2.wav").string());
  ASSERT_EQ(mix.size(), kTicks * kFrame);
  EXPECT_EQ(stayed.size(), mix.size());
  ASSERT_EQ(gone.size(), (kLeave + kIdle) * kFrame);
  ASSERT_EQ(back.size(), mix.size());
  EXPECT_FALSE(std::filesystem::exists(dir / "room-member-2.wav"));
  EXPECT_FALSE(std::filesystem::exists(dir / "room-member-3.wav"));
  EXPECT_GT(tone(stayed, 440, 5, kTicks), 4000.0);
  // The member's first call: its tone until it left, then silence.
  EXPECT_GT(tone(gone, 1000, 5, kLeave), 4000.0);
  for (size_t i = kLeave * kFrame; i < gone.size(); ++i) ASSERT_EQ(gone[i], 0) << i;
  // Its second call: silence from t0 to the frame it came in, then its tone.
  const size_t came = onset(back, 1000);
  ASSERT_NE(came, SIZE_MAX);
  EXPECT_GE(came, kReturn * kFrame);
  EXPECT_LT(came, (kReturn + 1) * kFrame);
  EXPECT_GT(tone(back, 1700, kReturn + 1, kTicks), 4000.0);
  EXPECT_LT(tone(back, 1000, kReturn + 1, kTicks), 50.0);
  std::filesystem::remove_all(dir);
}

// WAV files are opened as RF64 with auto-downgrade: under 4 GiB they close
// as plain RIFF/WAVE files (a JUNK chunk keeps the ds64's room after
// "WAVE"), readable by libsndfile; past 4 GiB they stay RF64 instead of
// carrying sizes cut to 32 bits. (4 GiB are not written here.)
TEST(Recording, WavIsRf64DowngradedToRiffWhileUnderFourGiB) {
  const auto dir = temp_dir("rf64");
  const std::string path = (dir / "short.wav").string();
  std::string error;
  auto sink = open_sink(Format::kWav, path, kFileRate, 0, error);
  ASSERT_TRUE(sink) << error;
  const std::vector<int16_t> frame(kFrame, 1000);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(sink->write(frame));
  ASSERT_TRUE(sink->finish()) << sink->error();
  std::ifstream f(path, std::ios::binary);
  std::string head(16, '\0');
  f.read(head.data(), 16);
  EXPECT_EQ(head.substr(0, 4), "RIFF");
  EXPECT_EQ(head.substr(8, 4), "WAVE");
  EXPECT_EQ(head.substr(12, 4), "JUNK");  // plain WAV has "fmt " here
  int rate = 0;
  const auto pcm = read_wav(path, &rate);
  EXPECT_EQ(rate, kFileRate);
  ASSERT_EQ(pcm.size(), 50 * kFrame);
  EXPECT_EQ(pcm[123], 1000);
  std::filesystem::remove_all(dir);
}

// Disk full: a sink on /dev/full reports the write (or the final flush) as
// failed instead of losing it silently, in both formats.
TEST(Recording, DiskFullIsAWriteError) {
  for (const Format format : {Format::kOggOpus, Format::kWav}) {
    SCOPED_TRACE(std::string(format_name(format)));
    std::string error;
    auto sink = open_sink(format, "/dev/full", 48000, 0, error);
    if (!sink) {
      EXPECT_FALSE(error.empty());  // refused at open: also an error, with its reason
      continue;
    }
    std::vector<int16_t> frame(960, 1000);
    bool ok = true;
    for (int i = 0; i < 500 && ok; ++i) ok = sink->write(frame);
    if (ok) ok = sink->finish();
    EXPECT_FALSE(ok);
    EXPECT_FALSE(sink->error().empty());
  }
}

// Ogg Opus files come out playable: libsndfile reads them back (when built
// with Opus) with the tone in them.
TEST(Recording, OggOpusMixIsReadable) {
  ConferenceHarness room(mixer::testing::config(3));
  room.add(1, 440.0);
  auto buffer = std::make_shared<RecordingBuffer>();
  RecordingTap tap;
  tap.start(buffer);
  const auto dir = temp_dir("opus");
  Writer writer;
  ASSERT_TRUE(writer.submit(Job{.id = 3, .buffer = buffer, .prefix = (dir / "r").string()}));
  for (uint64_t t = 0; t < 100; ++t) {
    room.step(false);
    tap.capture(room.conference, t);
  }
  tap.stop();
  const WriterEvent done = wait_event(writer);
  ASSERT_EQ(done.kind, WriterEvent::Kind::kFinished) << done.error;
  ASSERT_EQ(done.files.size(), 1u);
  EXPECT_EQ(done.files[0], (dir / "r-mix.opus").string());
  std::ifstream f(done.files[0], std::ios::binary);
  std::string head(36, '\0');
  f.read(head.data(), 36);
  EXPECT_EQ(head.substr(0, 4), "OggS");
  EXPECT_NE(head.find("OpusHead"), std::string::npos);
  EXPECT_GT(std::filesystem::file_size(done.files[0]), 2000u);
  std::filesystem::remove_all(dir);
}

// A recording stopped before its first tick still ends in complete files
// (libopusenc cannot drain an encoder that never got a sample).
TEST(Recording, EmptyRecordingFinishes) {
  for (const Format format : {Format::kOggOpus, Format::kWav}) {
    SCOPED_TRACE(std::string(format_name(format)));
    auto buffer = std::make_shared<RecordingBuffer>();
    const auto dir = temp_dir("empty");
    Writer writer;
    ASSERT_TRUE(writer.submit(
        Job{.id = 4, .buffer = buffer, .prefix = (dir / "r").string(), .format = format}));
    writer.run_once();
    buffer->close();
    const WriterEvent done = wait_event(writer);
    EXPECT_EQ(done.kind, WriterEvent::Kind::kFinished) << done.error;
    EXPECT_EQ(done.ticks, 0u);
    std::filesystem::remove_all(dir);
  }
}

}  // namespace
}  // namespace chorus::record

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
