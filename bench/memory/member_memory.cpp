// chorus-member-memory: resident memory per conference member (issue #16).
//
// Starts a one-shard mixer::Engine on 127.0.0.1, adds N members (10
// conferences of N/10) through its command interface, then plays every
// member's remote party from one UDP socket for `seconds` (one 20 ms packet
// per member per tick, so every jitter buffer slot gets written) and prints
// the resident set (/proc/self/statm) before the adds, after them, and after
// the traffic, with the delta per member. Members negotiate no RFC 4733
// telephone-event (as chorus-load's calls), so each has an in-band DTMF
// detector; "rfc4733" gives them telephone-event instead.
//
//   chorus-member-memory pcmu|g722|opus [members=1000] [seconds=3] [inband|rfc4733]
#include <utility>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numbers>
#include <string>
#include <thread>
#include <vector>

#include "mixer/codec.hpp"
#include "mixer/engine.hpp"
#include "rtp/packet.hpp"

namespace {

using namespace chorus;
using Clock = std::chrono::steady_clock;

long resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

// One 20 ms frame of a 440 Hz tone in `codec`, as the remote party sends it.
std::vector<uint8_t> tone_payload(const mixer::CodecParams& codec) {
  mixer::Frame f;
  f.sample_rate = codec.sample_rate;
  f.samples = mixer::samples_per_tick(codec.sample_rate);
  for (size_t i = 0; i < f.samples; ++i) {
    f.data[i] = static_cast<int16_t>(
        6000.0 * std::sin(2.0 * std::numbers::pi * 440.0 * static_cast<double>(i) /
                          static_cast<double>(codec.sample_rate)));
  }
  std::vector<uint8_t> out(mixer::kMaxPayloadBytes);
  out.resize(mixer::make_encoder(codec)->encode(f, out));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s pcmu|g722|opus [members] [seconds] [inband|rfc4733]\n",
                 argv[0]);
    return 2;
  }
  const std::string name = argv[1];
  const auto id = mixer::codec_from_name(name == "g722" ? "G722" : name);
  if (!id) return 2;
  const int members = argc > 2 ? std::atoi(argv[2]) : 1000;
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 3;
  const bool rfc4733 = argc > 4 && std::string(argv[4]) == "rfc4733";
  const mixer::CodecParams codec = mixer::default_params(*id);
  const uint8_t pt = *id == mixer::CodecId::kPcmu   ? 0
                     : *id == mixer::CodecId::kG722 ? 9
                                                    : 111;
  const std::vector<uint8_t> payload = tone_payload(codec);

  mixer::EngineConfig config;
  config.shards = 1;
  config.shard.bind_address = boost::asio::ip::make_address("127.0.0.1");
  config.shard.port_first = 46000;
  config.shard.port_last = 49999;
  config.shard.max_streams = static_cast<size_t>(members) + 16;
  config.max_per_part = static_cast<size_t>(members);
  mixer::Engine engine(config);
  engine.start();

  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in self{};
  self.sin_family = AF_INET;
  self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self);
  socklen_t len = sizeof self;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &len);
  const int buffer = 4 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);

  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const long before = resident_bytes();

  // Adds, in batches the engine's rings take; each kDone carries the port.
  std::vector<uint16_t> ports;
  std::vector<mixer::CommandId> waiting;
  int submitted = 0;
  const auto give_up = Clock::now() + std::chrono::seconds(60);
  while (static_cast<int>(ports.size()) < members && Clock::now() < give_up) {
    while (submitted < members && waiting.size() < 64) {
      mixer::Command c;
      c.kind = mixer::Command::Kind::kAddParticipant;
      c.conference = 1 + static_cast<mixer::ConferenceId>(submitted % 10);
      c.participant = 1 + static_cast<mixer::ParticipantId>(submitted);
      c.codec = codec;
      c.payload_type = pt;
      c.stream.clock_rate = static_cast<uint32_t>(codec.rtp_clock_rate);
      c.stream.samples_per_tick = mixer::rtp_timestamp_step(codec);
      c.stream.payload_types.reset();
      c.stream.payload_types.set(pt);
      if (rfc4733) {
        c.stream.telephone_event_pt = 101;
        c.stream.payload_types.set(101);
      }
      c.has_remote = true;
      c.remote_rtp = {boost::asio::ip::make_address("127.0.0.1"), ntohs(self.sin_port)};
      const auto cid = engine.submit(std::move(c));
      if (!cid) break;
      waiting.push_back(*cid);
      ++submitted;
    }
    mixer::Event e;
    while (engine.poll(e)) {
      if (e.kind == mixer::Event::Kind::kDone && e.value != 0) {
        ports.push_back(static_cast<uint16_t>(e.value));
        std::erase(waiting, e.id);
      } else if (e.kind == mixer::Event::Kind::kFailed) {
        std::fprintf(stderr, "add failed\n");
        return 1;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (static_cast<int>(ports.size()) < members) {
    std::fprintf(stderr, "only %zu of %d members added\n", ports.size(), members);
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const long added = resident_bytes();

  // Traffic: one packet per member per 20 ms from the one socket.
  const uint32_t step = mixer::rtp_timestamp_step(codec);
  std::array<uint8_t, 1600> packet{};
  const auto start = Clock::now();
  for (int tick = 0; tick < seconds * 50; ++tick) {
    for (size_t m = 0; m < ports.size(); ++m) {
      const rtp::RtpHeader h{pt, tick == 0, static_cast<uint16_t>(tick),
                             static_cast<uint32_t>(tick) * step, 0x10000u + static_cast<uint32_t>(m)};
      const size_t n = rtp::write_packet(packet, h, payload);
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      to.sin_port = htons(ports[m]);
      ::sendto(fd, packet.data(), n, 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    }
    // Drain what the mixer sends back so the socket never blocks it.
    std::array<uint8_t, 2048> sink{};
    while (::recv(fd, sink.data(), sink.size(), MSG_DONTWAIT) > 0) {
    }
    std::this_thread::sleep_until(start + std::chrono::milliseconds(20) * (tick + 1));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const long after = resident_bytes();

  // What the members' jitter buffers took (so a run without traffic shows).
  uint64_t received = 0, too_large = 0, too_early = 0, reports = 0;
  mixer::Command report;
  report.kind = mixer::Command::Kind::kReportStats;
  if (const auto rid = engine.submit(std::move(report))) {
    const auto until = Clock::now() + std::chrono::seconds(5);
    bool done = false;
    while (!done && Clock::now() < until) {
      mixer::Event e;
      while (engine.poll(e)) {
        if (e.kind == mixer::Event::Kind::kStats) {
          ++reports;
          received += e.stats.packets_received;
          too_large += e.stats.drops.too_large;
          too_early += e.stats.drops.too_early;
        }
        done = done || e.id == *rid;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  const mixer::ShardStatus shard = engine.shard_status(0);
  engine.stop();
  ::close(fd);

  std::printf(
      "codec=%s dtmf=%s members=%d payload=%zuB rss_before=%ld rss_added=%ld rss_traffic=%ld "
      "per_member_idle=%ld per_member_traffic=%ld (stats of %llu members: %llu packets "
      "received, %llu too large, %llu too early; shard: %llu ticks, %llu deadline misses)\n",
      name.c_str(), rfc4733 ? "rfc4733" : "inband", members, payload.size(), before, added, after, (added - before) / members,
      (after - before) / members, static_cast<unsigned long long>(reports),
      static_cast<unsigned long long>(received), static_cast<unsigned long long>(too_large),
      static_cast<unsigned long long>(too_early), static_cast<unsigned long long>(shard.ticks),
      static_cast<unsigned long long>(shard.deadline_misses));
  return 0;
}
