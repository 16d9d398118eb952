// SIP message parse + serialize on a typical dial-in INVITE with SDP
// (~900 bytes, realistic headers) and the focus's 200 OK.
#include <benchmark/benchmark.h>

#include <string>

#include "signaling/message/message.hpp"

namespace {

const std::string kInvite =
    "INVITE sip:room-4711@conf.chorus.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 198.51.100.23:5060;branch=z9hG4bK-524287-1---4e1f8b7d2c0a9e31;rport\r\n"
    "Max-Forwards: 70\r\n"
    "Contact: "
    "<sip:alice@198.51.100.23:5060;transport=udp>;+sip.instance=\"<urn:uuid:00000000-0000-1000-"
    "8000-00d0c9e4f2a1>\"\r\n"
    "To: <sip:room-4711@conf.chorus.example.com>\r\n"
    "From: \"Alice Example\" <sip:alice@example.com>;tag=8a2f91c3\r\n"
    "Call-ID: 5f2d8c1e-93ab-4c0e-b1f7-2a6e9d3c4b5a@198.51.100.23\r\n"
    "CSeq: 1 INVITE\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE, UPDATE\r\n"
    "Supported: replaces, norefersub, timer, join\r\n"
    "Session-Expires: 1800;refresher=uac\r\n"
    "Min-SE: 90\r\n"
    "User-Agent: Example Softphone 5.2.1 (Linux)\r\n"
    "Allow-Events: talk, hold, conference, dialog\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 354\r\n"
    "\r\n"
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 198.51.100.23\r\n"
    "s=Example Softphone\r\n"
    "c=IN IP4 198.51.100.23\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 111 9 0 8 101\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n";

std::string make_ok() {
  auto invite = chorus::sip::Message::parse(kInvite);
  chorus::sip::Message ok = chorus::sip::make_response(invite.value(), 200, {}, "f0c5a1");
  ok.add_header("Contact", "<sip:room-4711@conf.chorus.example.com;transport=udp>;isfocus");
  ok.add_header("Supported", "replaces, join, norefersub, tdialog, timer");
  ok.add_header("Session-Expires", "1800;refresher=uac");
  ok.set_body("application/sdp",
              "v=0\r\no=chorus 1 1 IN IP4 192.0.2.1\r\ns=chorus\r\nc=IN IP4 192.0.2.1\r\n"
              "t=0 0\r\nm=audio 20000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\n"
              "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n");
  return ok.serialize();
}

void BM_ParseInvite(benchmark::State& state) {
  for (auto _ : state) {
    auto m = chorus::sip::Message::parse(kInvite);
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kInvite.size()));
}
BENCHMARK(BM_ParseInvite);

void BM_ParseInviteAndReadTyped(benchmark::State& state) {
  for (auto _ : state) {
    auto m = chorus::sip::Message::parse(kInvite);
    benchmark::DoNotOptimize(m->top_via().branch());
    benchmark::DoNotOptimize(m->from().tag());
    benchmark::DoNotOptimize(m->cseq().number);
    benchmark::DoNotOptimize(m->call_id());
  }
}
BENCHMARK(BM_ParseInviteAndReadTyped);

void BM_SerializeInvite(benchmark::State& state) {
  auto m = chorus::sip::Message::parse(kInvite);
  for (auto _ : state) {
    std::string wire = m->serialize();
    benchmark::DoNotOptimize(wire);
  }
}
BENCHMARK(BM_SerializeInvite);

void BM_ParseSerializeInvite(benchmark::State& state) {
  for (auto _ : state) {
    auto m = chorus::sip::Message::parse(kInvite);
    std::string wire = m->serialize();
    benchmark::DoNotOptimize(wire);
  }
}
BENCHMARK(BM_ParseSerializeInvite);

void BM_Parse200Ok(benchmark::State& state) {
  const std::string ok = make_ok();
  for (auto _ : state) {
    auto m = chorus::sip::Message::parse(ok);
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * ok.size()));
}
BENCHMARK(BM_Parse200Ok);

void BM_MakeResponseAndSerialize200Ok(benchmark::State& state) {
  auto invite = chorus::sip::Message::parse(kInvite);
  for (auto _ : state) {
    chorus::sip::Message ok = chorus::sip::make_response(invite.value(), 200, {}, "f0c5a1");
    ok.add_header("Contact", "<sip:room-4711@conf.chorus.example.com>;isfocus");
    std::string wire = ok.serialize();
    benchmark::DoNotOptimize(wire);
  }
}
BENCHMARK(BM_MakeResponseAndSerialize200Ok);

}  // namespace

BENCHMARK_MAIN();
