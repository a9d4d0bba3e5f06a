// Replays the fuzz corpus (tests/fuzz/corpus/<decoder>/) through the same decoders the fuzz targets call, in
// the default build: every input the fuzzers once crashed on must now decode or be refused with a
// ravnest::Error, and the seeds (files named seed-*), which are valid inputs, must decode.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "decoders.h"
#include "ravnest/common/error.h"

namespace ravnest::fuzz {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpusRoot = RAVNEST_FUZZ_CORPUS_DIR;

std::vector<uint8_t> readBytes(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

bool isSeed(const fs::path& path) {
  return path.filename().string().rfind("seed-", 0) == 0;
}

class FuzzCorpusTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FuzzCorpusTest, EveryInputDecodesOrIsRefusedWithARavnestError) {
  const Decoder& decoder = decoderNamed(GetParam());
  const fs::path folder = kCorpusRoot / decoder.name;
  ASSERT_TRUE(fs::is_directory(folder)) << folder << " is missing: every decoder has a corpus";
  size_t seeds = 0;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::vector<uint8_t> input = readBytes(entry.path());
    const std::string name = entry.path().filename().string();
    seeds += isSeed(entry.path()) ? 1 : 0;
    try {
      decoder.decode(input.data(), input.size());
    } catch (const Error& error) {
      EXPECT_FALSE(isSeed(entry.path())) << name << " is a seed, but the decoder refused it: " << error.what();
    } catch (const std::exception& error) {
      ADD_FAILURE() << name << ": not a ravnest::Error: " << error.what();
    }
  }
  EXPECT_GT(seeds, 0u) << folder << " holds no seed-* input for the fuzzer to start from";
}

std::vector<std::string> decoderNames() {
  std::vector<std::string> names;
  for (const Decoder& decoder : decoders()) names.push_back(decoder.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(Decoders, FuzzCorpusTest, ::testing::ValuesIn(decoderNames()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

TEST(FuzzCorpusFoldersTest, EveryCorpusFolderNamesADecoder) {
  // CMake builds one fuzz target per corpus folder, so a folder without a decoder would be a target that fails.
  const std::vector<std::string> names = decoderNames();
  for (const auto& entry : fs::directory_iterator(kCorpusRoot)) {
    const std::string folder = entry.path().filename().string();
    EXPECT_NE(std::find(names.begin(), names.end(), folder), names.end()) << "no decoder for corpus " << folder;
  }
}

}  // namespace
}  // namespace ravnest::fuzz
