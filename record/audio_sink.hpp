#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace chorus::record {

enum class Format : uint8_t { kOggOpus, kWav };
std::string_view format_name(Format format);     // "opus", "wav"
std::string_view file_extension(Format format);  // ".opus", ".wav"

// One mono 16-bit audio file being written. Writer thread only.
class AudioSink {
 public:
  virtual ~AudioSink() = default;
  // False on a write error (disk full, I/O error); error() says what.
  virtual bool write(std::span<const int16_t> samples) = 0;
  // Flushes and closes; false when that failed (the last pages could not be
  // written). Called once.
  virtual bool finish() = 0;
  const std::string& error() const { return error_; }

 protected:
  std::string error_;
};

// Creates `path` (Ogg Opus via libopusenc, or 16-bit PCM WAV via
// libsndfile: RF64 once past 4 GiB, a RIFF/WAVE file below) at `rate`; nullptr with `error` set
// when it cannot be opened. `opus_bitrate` 0 leaves libopusenc's choice.
std::unique_ptr<AudioSink> open_sink(Format format, const std::string& path, int rate,
                                     int opus_bitrate, std::string& error);

}  // namespace chorus::record
