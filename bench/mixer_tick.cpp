// A full mixer tick without sockets: Conference objects fed decoded frames,
// real encoders. 1,000 participants in 100 rooms of 10 (3 talkers each), with
// G.711 and with Opus, with and without shared encoding; and one 100-person
// Opus room with 3 talkers, shared vs one encoder per listener; and a
// 100-person room with 10 sidebars of 2 (a talker in none, one or all ten of
// them, or both members of all ten) against the same room and talkers
// without sidebars (issue #17:
// within 2x).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/conference.hpp"

namespace {

using namespace chorus::mixer;

struct Rooms {
  // `sidebars` pairs of members (3,4), (5,6), ... of which the first
  // `talking_pairs` have a talker (the pair's first member; above
  // `sidebars`, the second members of the first talking_pairs - sidebars
  // pairs talk too): in sidebars of their own when `use_sidebars`, else
  // plain members.
  Rooms(size_t rooms, size_t per_room, size_t talkers, CodecId codec, bool shared,
        bool encode = true, size_t sidebars = 0, bool use_sidebars = false,
        size_t talking_pairs = 0, bool full_band_sidebars = false) {
    ConferenceConfig config;
    config.top_k = 3;
    config.share_encoders = shared;
    config.encode = encode;
    const CodecParams params = default_params(codec);
    const size_t n = samples_per_tick(params.sample_rate);
    // 50 ticks of a distinct tone per talker slot, replayed.
    for (size_t t = 0; t < talkers; ++t) {
      std::vector<int16_t> pcm(n * 50);
      for (size_t i = 0; i < pcm.size(); ++i) {
        pcm[i] = static_cast<int16_t>(
            5000.0 * std::sin(2.0 * 3.14159265 * (300.0 + 150.0 * t) * i / params.sample_rate));
      }
      tones.push_back(std::move(pcm));
    }
    for (size_t r = 0; r < rooms; ++r) {
      auto c = std::make_unique<Conference>(config);
      for (size_t p = 0; p < per_room; ++p) {
        ParticipantSettings settings;
        const bool paired = p >= talkers && p < talkers + 2 * sidebars;
        if (paired && use_sidebars) settings.sidebar = static_cast<uint32_t>(1 + (p - talkers) / 2);
        if (full_band_sidebars) {
          settings.sidebar_opus_bandwidth = OpusBandwidth::kFull;
          settings.sidebar_opus_complexity = params.complexity;
        }
        c->add(r * 1000 + p, params, settings);
      }
      conferences.push_back(std::move(c));
    }
    talking.assign(per_room, false);
    for (size_t p = 0; p < per_room; ++p) {
      // Past `sidebars`, talking_pairs counts second members too (20: all).
      const size_t j = p - talkers;
      const bool paired = p >= talkers && j < 2 * sidebars;
      talking[p] =
          p < talkers ||
          (paired && (j % 2 == 0 ? j / 2 < talking_pairs
                                 : talking_pairs > sidebars && j / 2 < talking_pairs - sidebars));
    }
    this->talkers = talkers;
    samples = n;
    rate = params.sample_rate;
    for (int i = 0; i < 10; ++i) tick();  // talkers detected, groups warm
  }

  void tick() {
    const size_t offset = (ticks % 50) * samples;
    // Talkers pause for 2 ticks of every 50, as speech does: without pauses a
    // steady tone is taken for background noise after ~40 s of ticks (the
    // talker detector's floor creeps up 1 dB/s), and a long benchmark run
    // would end up timing a room with no talkers. The 40 ms pause is shorter
    // than the detector's hangover, so the talkers stay mixed throughout.
    const bool pause = ticks % 50 >= 48;
    for (auto& c : conferences) {
      for (size_t i = 0; i < c->size(); ++i) {
        Frame& f = c->input_slot(i);
        f.sample_rate = rate;
        f.channels = 1;
        f.samples = samples;
        if (talking[i] && !pause) {
          std::copy_n(tones[i % tones.size()].begin() + static_cast<std::ptrdiff_t>(offset),
                      samples, f.data.begin());
          f.silent = false;
        } else {
          std::fill_n(f.data.begin(), samples, int16_t{0});
          f.silent = true;
        }
      }
      c->tick(ticks);
    }
    ++ticks;
  }

  size_t mixed() const {
    size_t n = 0;
    for (const auto& c : conferences) {
      for (size_t i = 0; i < c->size(); ++i) n += c->mixed(i);
    }
    return n;
  }

  uint64_t encodes() const {
    uint64_t e = 0;
    for (const auto& c : conferences) e += c->stats().private_encodes + c->stats().shared_encodes;
    return e;
  }

  std::vector<std::unique_ptr<Conference>> conferences;
  std::vector<std::vector<int16_t>> tones;
  std::vector<bool> talking;  // per member index
  size_t talkers = 0;
  size_t samples = 0;
  int rate = 8000;
  uint64_t ticks = 0;
};

void run(benchmark::State& state, size_t rooms, size_t per_room, CodecId codec) {
  const bool shared = state.range(0) != 0;
  Rooms r(rooms, per_room, 3, codec, shared);
  const uint64_t before = r.encodes();
  for (auto _ : state) r.tick();
  state.counters["encodes_per_tick"] =
      static_cast<double>(r.encodes() - before) / static_cast<double>(state.iterations());
  state.counters["participants"] = static_cast<double>(rooms * per_room);
  state.SetLabel(shared ? "shared encoding" : "one encoder per listener");
}

// The mix alone (talker detection, top-K, N-1 sums, limiters), no codec:
// 1,000 G.711 participants in 100 rooms.
void BM_MixOnly1000In100Rooms(benchmark::State& state) {
  Rooms r(100, 10, 3, CodecId::kPcmu, true, false);
  for (auto _ : state) r.tick();
  state.counters["participants"] = 1000;
  // Talkers still mixed after the run (300: 3 in each room), so a long run
  // cannot silently end up timing rooms without talkers.
  state.counters["mixed_at_end"] = static_cast<double>(r.mixed());
}

void BM_Tick1000In100Rooms_G711(benchmark::State& state) {
  run(state, 100, 10, CodecId::kPcmu);
}
void BM_Tick1000In100Rooms_Opus(benchmark::State& state) {
  run(state, 100, 10, CodecId::kOpus);
}
void BM_Tick100PersonRoom_Opus(benchmark::State& state) {
  run(state, 1, 100, CodecId::kOpus);
}

// Args: (1 = 10 sidebars of 2, 0 = the same members all in the main room;
// how many of the 10 pairs have a talker, 20: both members of every pair;
// 1 = sidebar mixes
// encoded like the main room's, Opus full band at complexity 5, instead of
// the default wideband, complexity 0). Three main-room talkers always.
void sidebars(benchmark::State& state, CodecId codec) {
  const bool use = state.range(0) != 0;
  const auto talking_pairs = static_cast<size_t>(state.range(1));
  const bool full_band = state.range(2) != 0;
  Rooms r(1, 100, 3, codec, true, true, 10, use, talking_pairs, full_band);
  const uint64_t before = r.encodes();
  for (auto _ : state) r.tick();
  state.counters["encodes_per_tick"] =
      static_cast<double>(r.encodes() - before) / static_cast<double>(state.iterations());
  state.counters["sidebars"] = static_cast<double>(r.conferences.front()->sidebars());
  state.SetLabel(!use        ? "no sidebars"
                 : full_band ? "10 sidebars of 2, full band"
                             : "10 sidebars of 2");
}
// The same comparison as one figure: the room with sidebars and the room
// without tick alternately in one loop (which goes first alternating too),
// each tick timed, so both see the same machine. On this shared VM two
// benchmark instances of the same G.711 room (a tick of a few µs) differ by
// up to 50 %, which the separate figures above carry into their ratio.
// Arg: talkers in the sidebar pairs (as above: 0, 1, 10, 20).
void sidebar_cost_ratio(benchmark::State& state, CodecId codec) {
  using Clock = std::chrono::steady_clock;
  const auto talking_pairs = static_cast<size_t>(state.range(0));
  Rooms with(1, 100, 3, codec, true, true, 10, true, talking_pairs);
  Rooms without(1, 100, 3, codec, true, true, 10, false, talking_pairs);
  Clock::duration with_time{};
  Clock::duration without_time{};
  bool with_first = true;
  for (auto _ : state) {
    Rooms& first = with_first ? with : without;
    Rooms& second = with_first ? without : with;
    const auto t0 = Clock::now();
    first.tick();
    const auto t1 = Clock::now();
    second.tick();
    const auto t2 = Clock::now();
    (with_first ? with_time : without_time) += t1 - t0;
    (with_first ? without_time : with_time) += t2 - t1;
    with_first = !with_first;
  }
  const double n = static_cast<double>(state.iterations());
  const double with_us = std::chrono::duration<double, std::micro>(with_time).count() / n;
  const double without_us = std::chrono::duration<double, std::micro>(without_time).count() / n;
  state.counters["sidebars_us"] = with_us;
  state.counters["no_sidebars_us"] = without_us;
  state.counters["ratio"] = without_us > 0 ? with_us / without_us : 0.0;
  state.SetLabel("10 sidebars of 2 / the same room without");
}
void BM_SidebarCostRatio_G711(benchmark::State& state) {
  sidebar_cost_ratio(state, CodecId::kPcmu);
}
void BM_SidebarCostRatio_Opus(benchmark::State& state) {
  sidebar_cost_ratio(state, CodecId::kOpus);
}

void BM_Tick100PersonRoomSidebars_G711(benchmark::State& state) {
  sidebars(state, CodecId::kPcmu);
}
void BM_Tick100PersonRoomSidebars_Opus(benchmark::State& state) {
  sidebars(state, CodecId::kOpus);
}

BENCHMARK(BM_MixOnly1000In100Rooms)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tick1000In100Rooms_G711)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tick1000In100Rooms_Opus)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tick100PersonRoom_Opus)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SidebarCostRatio_G711)
    ->Arg(0)
    ->Arg(1)
    ->Arg(10)
    ->Arg(20)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SidebarCostRatio_Opus)
    ->Arg(0)
    ->Arg(1)
    ->Arg(10)
    ->Arg(20)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tick100PersonRoomSidebars_G711)
    ->ArgsProduct({{0, 1}, {0, 1, 10, 20}, {0}})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Tick100PersonRoomSidebars_Opus)
    ->ArgsProduct({{0, 1}, {0, 1, 10, 20}, {0}})
    ->Args({1, 10, 1})
    ->Args({1, 20, 1})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
