#include "record/audio_sink.hpp"

#include <opusenc.h>
#include <sndfile.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace chorus::record {

std::string_view format_name(Format format) {
  return format == Format::kWav ? "wav" : "opus";
}

std::string_view file_extension(Format format) {
  return format == Format::kWav ? ".wav" : ".opus";
}

namespace {

class WavSink final : public AudioSink {
 public:
  explicit WavSink(SNDFILE* file) : file_(file) {}
  ~WavSink() override {
    if (file_ != nullptr) sf_close(file_);
  }
  bool write(std::span<const int16_t> samples) override {
    const auto n = static_cast<sf_count_t>(samples.size());
    if (sf_write_short(file_, samples.data(), n) == n) return true;
    error_ = sf_strerror(file_);
    return false;
  }
  bool finish() override {
    sf_write_sync(file_);
    const int rc = sf_close(file_);
    file_ = nullptr;
    if (rc == 0) return true;
    error_ = sf_error_number(rc);
    return false;
  }

 private:
  SNDFILE* file_;
};

class OpusSink final : public AudioSink {
 public:
  OpusSink(OggOpusEnc* encoder, OggOpusComments* comments, int rate)
      : encoder_(encoder), comments_(comments), rate_(rate) {}
  ~OpusSink() override {
    if (encoder_ != nullptr) ope_encoder_destroy(encoder_);
    if (comments_ != nullptr) ope_comments_destroy(comments_);
  }
  bool write(std::span<const int16_t> samples) override {
    const int rc = ope_encoder_write(encoder_, samples.data(), static_cast<int>(samples.size()));
    written_ += samples.size();
    if (rc == OPE_OK) return true;
    error_ = ope_strerror(rc);
    return false;
  }
  bool finish() override {
    // libopusenc 0.2.1 asserts when drained before any sample: an empty
    // recording is 20 ms of silence.
    if (written_ == 0) {
      const std::vector<int16_t> silence(static_cast<size_t>(rate_) / 50, 0);
      write(silence);
    }
    // The last pages go out here; a full disk shows as a failed drain.
    const int rc = ope_encoder_drain(encoder_);
    ope_encoder_destroy(encoder_);
    encoder_ = nullptr;
    if (rc == OPE_OK) return true;
    error_ = ope_strerror(rc);
    return false;
  }

 private:
  OggOpusEnc* encoder_;
  OggOpusComments* comments_;
  int rate_;
  size_t written_ = 0;
};

}  // namespace

std::unique_ptr<AudioSink> open_sink(Format format, const std::string& path, int rate,
                                     int opus_bitrate, std::string& error) {
  if (format == Format::kWav) {
    SF_INFO info{};
    info.samplerate = rate;
    info.channels = 1;
    // RF64 (EBU Tech 3306): a WAV's RIFF and data sizes are 32 bits, so
    // past 4 GiB (about 12.4 h at 48 kHz) its header would be wrong with
    // nothing said. Written as RF64, downgraded at close to a plain RIFF/WAVE
    // file (WAVE_FORMAT_EXTENSIBLE, a JUNK chunk holding the ds64's room)
    // while it is under 4 GiB.
    info.format = SF_FORMAT_RF64 | SF_FORMAT_PCM_16;
    SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
    if (file == nullptr) {
      error = path + ": " + sf_strerror(nullptr);
      return nullptr;
    }
    sf_command(file, SFC_RF64_AUTO_DOWNGRADE, nullptr, SF_TRUE);
    return std::make_unique<WavSink>(file);
  }
  OggOpusComments* comments = ope_comments_create();
  if (comments == nullptr) {
    error = "out of memory";
    return nullptr;
  }
  ope_comments_add(comments, "ENCODER", "chorus");
  int rc = OPE_OK;
  errno = 0;
  OggOpusEnc* encoder = ope_encoder_create_file(path.c_str(), comments, rate, 1, 0, &rc);
  if (encoder == nullptr) {
    error = path + ": " + ope_strerror(rc);
    if (errno != 0) error += std::string(" (") + std::strerror(errno) + ")";
    ope_comments_destroy(comments);
    return nullptr;
  }
  if (opus_bitrate > 0) ope_encoder_ctl(encoder, OPUS_SET_BITRATE(opus_bitrate));
  return std::make_unique<OpusSink>(encoder, comments, rate);
}

}  // namespace chorus::record
