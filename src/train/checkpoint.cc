#include "train/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <memory>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/sha256.h"
#include "base/strings.h"

namespace mnemo::train {
namespace {

constexpr char kMagic[8] = {'M', 'N', 'E', 'M', 'O', 'C', 'K', 'P'};
constexpr size_t kChunk = 512 * 1024;  // below AtomicFileWriter's buffer: no large copies
std::atomic<void (*)()> g_write_hook{nullptr};

nlohmann::ordered_json shape_json(const TrainShape& s) {
  return {{"n_vocab", s.n_vocab}, {"n_embd", s.n_embd},       {"n_layer", s.n_layer},     {"n_head", s.n_head},
          {"n_head_kv", s.n_head_kv}, {"n_ff", s.n_ff},       {"n_ctx", s.n_ctx},         {"rms_eps", s.rms_eps},
          {"rope_base", s.rope_base}, {"tied_output", s.tied_output}};
}

nlohmann::ordered_json optimizer_json(const OptimizerSettings& o) {
  return {{"type", o.type},   {"beta1", o.beta1},     {"beta2", o.beta2},
          {"eps", o.eps},     {"weight_decay", o.weight_decay}, {"grad_clip", o.grad_clip},
          {"rank", o.rank},   {"update_interval", o.update_interval}, {"scale", o.scale},
          {"proj_type", o.proj_type}};
}

void raw_digest(const std::string& hex, uint8_t out[32]) {
  for (int i = 0; i < 32; ++i) out[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
}

// Feeds bytes to the writer, one section at a time, each with its own SHA-256 (version 2).
class SectionWriter {
 public:
  explicit SectionWriter(AtomicFileWriter* w) : w_(w) {}
  Status write(const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    while (n > 0) {
      const size_t k = std::min(n, kChunk);
      sha_.update(b, k);
      MNEMO_RETURN_IF_ERROR(w_->write(b, k));
      if (auto* hook = g_write_hook.load(std::memory_order_relaxed)) hook();
      b += k;
      n -= k;
    }
    return Status::ok();
  }
  void end_section() {
    uint8_t raw[32];
    raw_digest(sha_.hex_digest(), raw);
    table_.insert(table_.end(), raw, raw + 32);
  }
  // The section table, then the SHA-256 of the table.
  Status seal() {
    MNEMO_RETURN_IF_ERROR(w_->write(table_.data(), table_.size()));
    uint8_t raw[32];
    raw_digest(sha256_hex(table_.data(), table_.size()), raw);
    return w_->write(raw, 32);
  }

 private:
  AtomicFileWriter* w_;
  Sha256 sha_;
  std::vector<uint8_t> table_;
};

// Sequential reads of a checkpoint with a running checksum over everything but the last 32 bytes.
class SealedReader {
 public:
  ~SealedReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status open(const std::string& path) {
    path_ = path;
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      return errno == ENOENT ? not_found(path + ": cannot open: no such file")
                             : io_error(path + ": cannot open: " + std::strerror(errno));
    }
    const off_t end = ::lseek(fd_, 0, SEEK_END);
    if (end < 0 || ::lseek(fd_, 0, SEEK_SET) != 0) return io_error(path + ": cannot seek");
    size_ = static_cast<uint64_t>(end);
    if (size_ < 64 + 32) return corrupt(str_printf("%s: expected a checkpoint, found %llu bytes", path.c_str(),
                                                   static_cast<unsigned long long>(size_)));
    return Status::ok();
  }
  uint64_t size() const { return size_; }
  uint64_t pos() const { return pos_; }
  uint64_t body() const { return size_ - 32; }
  // Reads n bytes of the body into dst (nullptr: hash and skip).
  Status read(void* dst, uint64_t n) {
    if (n > body() - pos_) return corrupt(path_ + ": truncated");
    auto* out = static_cast<uint8_t*>(dst);
    std::vector<uint8_t> tmp;
    while (n > 0) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(n, kChunk));
      uint8_t* p = out;
      if (p == nullptr) {
        tmp.resize(k);
        p = tmp.data();
      }
      MNEMO_RETURN_IF_ERROR(read_raw(p, k));
      sha_.update(p, k);
      pos_ += k;
      n -= k;
      if (out != nullptr) out += k;
    }
    return Status::ok();
  }
  // After the whole body: compares the stored digest.
  Status verify() {
    if (pos_ != body()) MNEMO_RETURN_IF_ERROR(read(nullptr, body() - pos_));
    uint8_t raw[32];
    MNEMO_RETURN_IF_ERROR(read_raw(raw, 32));
    std::string stored;
    for (uint8_t b : raw) stored += str_printf("%02x", b);
    const std::string actual = sha_.hex_digest();
    if (stored != actual) {
      return corrupt(path_ + ": checksum: expected SHA-256 " + stored + " (stored), found " + actual +
                     ": the checkpoint is corrupt");
    }
    return Status::ok();
  }

 private:
  Status read_raw(uint8_t* p, size_t n) {
    while (n > 0) {
      const ssize_t r = ::read(fd_, p, n);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return io_error(path_ + ": read failed: " + std::strerror(errno));
      if (r == 0) return corrupt(path_ + ": truncated");
      p += r;
      n -= static_cast<size_t>(r);
    }
    return Status::ok();
  }
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0, pos_ = 0;
  Sha256 sha_;
};

uint64_t padded(uint64_t n) { return (n + 63) / 64 * 64; }

// Parses the header and metadata from the reader (positioned at 0); leaves it at the tensors.
// The metadata JSON into a CheckpointMeta (no size checks).
Expected<CheckpointMeta> parse_meta_json(const std::string& text, const std::string& path) {
  CheckpointMeta m;
  try {
    const auto j = nlohmann::json::parse(text);
    const auto& s = j.at("model");
    m.shape.n_vocab = s.at("n_vocab").get<int64_t>();
    m.shape.n_embd = s.at("n_embd").get<int64_t>();
    m.shape.n_layer = s.at("n_layer").get<int64_t>();
    m.shape.n_head = s.at("n_head").get<int64_t>();
    m.shape.n_head_kv = s.at("n_head_kv").get<int64_t>();
    m.shape.n_ff = s.at("n_ff").get<int64_t>();
    m.shape.n_ctx = s.at("n_ctx").get<int64_t>();
    m.shape.rms_eps = s.at("rms_eps").get<float>();
    m.shape.rope_base = s.at("rope_base").get<float>();
    m.shape.tied_output = s.at("tied_output").get<bool>();
    const auto& o = j.at("optimizer");
    m.optimizer.type = o.at("type").get<std::string>();
    m.optimizer.beta1 = o.at("beta1").get<float>();
    m.optimizer.beta2 = o.at("beta2").get<float>();
    m.optimizer.eps = o.at("eps").get<float>();
    m.optimizer.weight_decay = o.at("weight_decay").get<float>();
    m.optimizer.grad_clip = o.at("grad_clip").get<float>();
    m.optimizer.rank = o.at("rank").get<int64_t>();
    m.optimizer.update_interval = o.at("update_interval").get<int64_t>();
    m.optimizer.scale = o.at("scale").get<float>();
    m.optimizer.proj_type = o.at("proj_type").get<std::string>();
    m.step = j.at("step").get<int64_t>();
    m.tokens = j.at("tokens").get<int64_t>();
    m.n_params = j.at("n_params").get<int64_t>();
    const auto& d = j.at("data");
    m.data.epoch = d.at("epoch").get<int64_t>();
    m.data.cursor = d.at("cursor").get<int64_t>();
    m.data.offset = d.at("offset").get<int64_t>();
    m.data.carry = d.at("carry").get<int32_t>();
    m.data.has_carry = d.at("has_carry").get<bool>();
    const auto& rng = j.at("rng");
    for (size_t i = 0; i < 4; ++i) m.rng[i] = std::stoull(rng.at(i).get<std::string>());
    for (const auto& t : j.at("state")) m.state.emplace_back(t.at(0).get<std::string>(), t.at(1).get<int64_t>());
    if (j.contains("run")) {
      const auto& u = j.at("run");
      m.run.present = true;
      m.run.seed = std::stoull(u.at("seed").get<std::string>());
      m.run.batch_size = u.at("batch_size").get<int64_t>();
      m.run.seq_len = u.at("seq_len").get<int64_t>();
      m.run.grad_accum = u.at("grad_accum").get<int64_t>();
      m.run.ranks = u.at("ranks").get<int64_t>();
      m.run.zero_stage = u.at("zero_stage").get<int64_t>();
      for (const auto& f : u.at("data")) {
        m.run.data.push_back({f.at("path").get<std::string>(), f.at("size").get<uint64_t>(), f.at("hash").get<std::string>()});
      }
    }
  } catch (const std::exception& e) {
    return corrupt(path + ": metadata: " + e.what());
  }
  if (m.n_params <= 0 || m.step < 0) return corrupt(path + ": metadata: impossible counts");
  for (const auto& [name, n] : m.state) {
    if (n < 0) return corrupt(path + ": metadata: negative state size for " + name);
  }
  return m;
}

uint64_t tensor_floats(const CheckpointMeta& m) {
  uint64_t floats = static_cast<uint64_t>(m.n_params);
  for (const auto& t : m.state) floats += static_cast<uint64_t>(t.second);
  return floats;
}

// Version 1 (a SHA-256 of the whole file at its end): parses the header and metadata from the
// reader (positioned at 0); leaves it at the tensors.
Expected<CheckpointMeta> read_header_v1(SealedReader& r, const std::string& path) {
  uint8_t head[24];
  MNEMO_RETURN_IF_ERROR(r.read(head, sizeof head));
  uint64_t json_bytes;
  std::memcpy(&json_bytes, head + 16, 8);
  if (json_bytes > (1u << 24) || json_bytes > r.body()) return corrupt(path + ": metadata size: impossible");
  std::string text(static_cast<size_t>(json_bytes), '\0');
  MNEMO_RETURN_IF_ERROR(r.read(text.data(), json_bytes));
  MNEMO_RETURN_IF_ERROR(r.read(nullptr, padded(24 + json_bytes) - (24 + json_bytes)));
  MNEMO_ASSIGN_OR_RETURN(CheckpointMeta m, parse_meta_json(text, path));
  const uint64_t floats = tensor_floats(m);
  if (floats * 4 != r.body() - r.pos()) {
    return corrupt(str_printf("%s: expected %llu bytes of tensors after the metadata, found %llu", path.c_str(),
                              static_cast<unsigned long long>(floats * 4),
                              static_cast<unsigned long long>(r.body() - r.pos())));
  }
  return m;
}

// Version 2: random-access reads with a checksum per section (train/checkpoint.h's layout).
class SectionReader {
 public:
  ~SectionReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  // Opens, parses and checks the layout: the size the metadata implies, the section table against
  // its checksum, and the header section against the table. Leaves the tensor sections unread.
  Expected<CheckpointMeta> open(const std::string& path, uint32_t sections, uint64_t json_bytes, int fd,
                                uint64_t size);
  // Reads tensor section i (0: parameters, 1..: state tensors) into dst (nullptr: only hashes it)
  // and checks it against the table.
  Status section(size_t i, void* dst);
  size_t tensor_sections() const { return names_.size(); }

 private:
  Status pread_exact(void* dst, uint64_t off, uint64_t n);
  Expected<std::string> hash_range(uint64_t off, uint64_t n, uint8_t* dst);
  std::string path_;
  int fd_ = -1;
  std::vector<std::string> names_;           // tensor sections: "parameters", state names
  std::vector<uint64_t> begin_, bytes_;      // their byte ranges
  std::vector<uint8_t> table_;               // 32 bytes per section, header first
};

Status SectionReader::pread_exact(void* dst, uint64_t off, uint64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  while (n > 0) {
    const ssize_t r = ::pread(fd_, p, n, static_cast<off_t>(off));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return io_error(path_ + ": read failed: " + std::strerror(errno));
    if (r == 0) return corrupt(path_ + ": truncated");
    p += r;
    off += static_cast<uint64_t>(r);
    n -= static_cast<uint64_t>(r);
  }
  return Status::ok();
}

Expected<std::string> SectionReader::hash_range(uint64_t off, uint64_t n, uint8_t* dst) {
  Sha256 sha;
  std::vector<uint8_t> tmp(dst == nullptr ? kChunk : 0);
  while (n > 0) {
    const uint64_t k = std::min<uint64_t>(n, kChunk);
    uint8_t* p = dst != nullptr ? dst : tmp.data();
    MNEMO_RETURN_IF_ERROR(pread_exact(p, off, k));
    sha.update(p, k);
    off += k;
    n -= k;
    if (dst != nullptr) dst += k;
  }
  return sha.hex_digest();
}

std::string hex32(const uint8_t* p) {
  std::string out;
  for (int i = 0; i < 32; ++i) out += str_printf("%02x", p[i]);
  return out;
}

Expected<CheckpointMeta> SectionReader::open(const std::string& path, uint32_t sections, uint64_t json_bytes,
                                             int fd, uint64_t size) {
  path_ = path;
  fd_ = fd;
  const uint64_t header_end = padded(24 + json_bytes);
  if (json_bytes > (1u << 24) || sections > (1u << 16) || header_end > size) {
    return corrupt(str_printf("%s: section header: %llu bytes of metadata and %u sections do not fit the file (%llu "
                              "bytes): truncated, or the checkpoint is corrupt",
                              path.c_str(), static_cast<unsigned long long>(json_bytes), sections,
                              static_cast<unsigned long long>(size)));
  }
  // The table first (at the end, located by the fixed header): when it holds, every other
  // section is checked against it before anything in it is trusted.
  table_.resize(32 * size_t{sections} + 32);
  const bool table_fits = header_end + table_.size() <= size;
  if (table_fits) MNEMO_RETURN_IF_ERROR(pread_exact(table_.data(), size - table_.size(), table_.size()));
  const bool table_ok =
      table_fits && sha256_hex(table_.data(), 32 * size_t{sections}) == hex32(table_.data() + 32 * size_t{sections});
  if (table_ok) {
    MNEMO_ASSIGN_OR_RETURN(std::string head, hash_range(0, header_end, nullptr));
    if (head != hex32(table_.data())) {
      return corrupt(path + ": section header: checksum: expected SHA-256 " + hex32(table_.data()) + ", found " + head +
                     ": the checkpoint is corrupt");
    }
  }
  std::string text(static_cast<size_t>(json_bytes), '\0');
  MNEMO_RETURN_IF_ERROR(pread_exact(text.data(), 24, json_bytes));
  auto parsed = parse_meta_json(text, path + ": section header");
  if (!parsed.has_value()) return corrupt(parsed.status().message() + ": the checkpoint is corrupt");
  CheckpointMeta m = std::move(*parsed);
  if (sections != 2 + m.state.size()) {
    return corrupt(str_printf("%s: section header: expected %zu sections, found %u: the checkpoint is corrupt",
                              path.c_str(), 2 + m.state.size(), sections));
  }
  names_.push_back("parameters");
  bytes_.push_back(4 * static_cast<uint64_t>(m.n_params));
  for (const auto& [name, n] : m.state) {
    names_.push_back(name);
    bytes_.push_back(4 * static_cast<uint64_t>(n));
  }
  uint64_t at = header_end;
  for (uint64_t b : bytes_) {
    begin_.push_back(at);
    at += b;
  }
  const uint64_t expected = at + table_.size();
  if (size != expected) {  // a partial write (or damaged sizes, when the table did not hold)
    std::string where = "the section table";
    for (size_t i = 0; i < names_.size(); ++i) {
      if (size < begin_[i] + bytes_[i]) {
        where = "section '" + names_[i] + "'";
        break;
      }
    }
    return corrupt(str_printf("%s: expected %llu bytes, found %llu: %s in %s (a partial write, or a corrupt checkpoint)",
                              path.c_str(), static_cast<unsigned long long>(expected),
                              static_cast<unsigned long long>(size), size < expected ? "ends" : "has extra bytes",
                              where.c_str()));
  }
  if (!table_ok) return corrupt(path + ": section table: checksum mismatch: the checkpoint is corrupt");
  return m;
}
Status SectionReader::section(size_t i, void* dst) {
  MNEMO_ASSIGN_OR_RETURN(std::string got, hash_range(begin_[i], bytes_[i], static_cast<uint8_t*>(dst)));
  const std::string want = hex32(table_.data() + 32 * (i + 1));
  if (got != want) {
    return corrupt(str_printf("%s: section '%s' (bytes %llu..%llu): checksum: expected SHA-256 %s, found %s: the "
                              "checkpoint is corrupt",
                              path_.c_str(), names_[i].c_str(), static_cast<unsigned long long>(begin_[i]),
                              static_cast<unsigned long long>(begin_[i] + bytes_[i]), want.c_str(), got.c_str()));
  }
  return Status::ok();
}

// Opens a checkpoint of either version: v1 -> *v1 set (re-read with SealedReader), v2 -> the
// section reader opened and the metadata returned.
struct Opened {
  uint32_t version = 0;
  CheckpointMeta meta;
  std::unique_ptr<SectionReader> v2;
};
Expected<Opened> open_checkpoint(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return errno == ENOENT ? not_found(path + ": cannot open: no such file")
                           : io_error(path + ": cannot open: " + std::strerror(errno));
  }
  Opened o;
  o.v2 = std::make_unique<SectionReader>();
  const off_t end = ::lseek(fd, 0, SEEK_END);
  uint8_t head[24];
  if (end < 0 || ::pread(fd, head, 24, 0) != 24) {
    ::close(fd);
    return corrupt(str_printf("%s: expected a checkpoint, found %lld bytes (a partial write, or a corrupt checkpoint)", path.c_str(),
                              static_cast<long long>(end)));
  }
  if (std::memcmp(head, kMagic, 8) != 0) {
    ::close(fd);
    return corrupt(path + ": section header: expected a mnemo checkpoint (magic \"MNEMOCKP\"): the checkpoint is corrupt");
  }
  uint32_t sections;
  uint64_t json_bytes;
  std::memcpy(&o.version, head + 8, 4);
  std::memcpy(&sections, head + 12, 4);
  std::memcpy(&json_bytes, head + 16, 8);
  if (o.version == 1) {
    ::close(fd);
    return o;
  }
  if (o.version != 2) {
    ::close(fd);
    return unsupported(str_printf("%s: version: expected 1 or 2, found %u", path.c_str(), o.version));
  }
  MNEMO_ASSIGN_OR_RETURN(o.meta, o.v2->open(path, sections, json_bytes, fd, static_cast<uint64_t>(end)));
  return o;
}

}  // namespace

Expected<DataFileId> identify_data_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return io_error(path + ": cannot open the data file to hash it");
  std::vector<unsigned char> buf(1 << 20);
  uint64_t h = 0xcbf29ce484222325ull, size = 0;
  size_t got;
  while ((got = std::fread(buf.data(), 1, buf.size(), f)) > 0) {
    for (size_t i = 0; i < got; ++i) h = (h ^ buf[i]) * 0x100000001b3ull;
    size += got;
  }
  const bool bad = std::ferror(f) != 0;
  std::fclose(f);
  if (bad) return io_error(path + ": read error while hashing the data file");
  return DataFileId{path, size, str_printf("%016llx", static_cast<unsigned long long>(h))};
}

std::vector<std::string> run_differences(const RunRecord& saved, const RunRecord& now) {
  std::vector<std::string> out;
  auto cmp = [&](const char* field, long long a, long long b) {
    if (a != b) out.push_back(str_printf("%s: checkpoint %lld, this run %lld", field, a, b));
  };
  if (saved.seed != now.seed) {
    out.push_back(str_printf("seed: checkpoint %llu, this run %llu", static_cast<unsigned long long>(saved.seed),
                             static_cast<unsigned long long>(now.seed)));
  }
  cmp("batch_size", saved.batch_size, now.batch_size);
  cmp("seq_len", saved.seq_len, now.seq_len);
  cmp("grad_accum", saved.grad_accum, now.grad_accum);
  cmp("ranks", saved.ranks, now.ranks);
  cmp("zero_stage", saved.zero_stage, now.zero_stage);
  if (saved.data.size() != now.data.size()) {
    cmp("data.train (files)", static_cast<long long>(saved.data.size()), static_cast<long long>(now.data.size()));
  } else {
    for (size_t i = 0; i < saved.data.size(); ++i) {
      const DataFileId &a = saved.data[i], &b = now.data[i];
      if (a.size != b.size || a.hash != b.hash) {
        out.push_back(str_printf("data.train[%zu]: checkpoint %s (%llu bytes, hash %s), this run %s (%llu bytes, hash %s)",
                                 i, a.path.c_str(), static_cast<unsigned long long>(a.size), a.hash.c_str(),
                                 b.path.c_str(), static_cast<unsigned long long>(b.size), b.hash.c_str()));
      }
    }
  }
  return out;
}

Status save_checkpoint(const std::string& path, const CheckpointMeta& meta, const float* params,
                       const std::vector<StateTensor>& state) {
  nlohmann::ordered_json j;
  j["model"] = shape_json(meta.shape);
  j["optimizer"] = optimizer_json(meta.optimizer);
  j["step"] = meta.step;
  j["tokens"] = meta.tokens;
  j["n_params"] = meta.n_params;
  j["data"] = {{"epoch", meta.data.epoch},
               {"cursor", meta.data.cursor},
               {"offset", meta.data.offset},
               {"carry", meta.data.carry},
               {"has_carry", meta.data.has_carry}};
  for (uint64_t w : meta.rng) j["rng"].push_back(std::to_string(w));
  j["state"] = nlohmann::ordered_json::array();
  for (const StateTensor& t : state) j["state"].push_back({t.name, t.n});
  if (meta.run.present) {
    const RunRecord& u = meta.run;
    auto& o = j["run"];
    o["seed"] = std::to_string(u.seed);
    o["batch_size"] = u.batch_size;
    o["seq_len"] = u.seq_len;
    o["grad_accum"] = u.grad_accum;
    o["ranks"] = u.ranks;
    o["zero_stage"] = u.zero_stage;
    o["data"] = nlohmann::ordered_json::array();
    for (const DataFileId& f : u.data) o["data"].push_back({{"path", f.path}, {"size", f.size}, {"hash", f.hash}});
  }
  const std::string text = j.dump();
  MNEMO_ASSIGN_OR_RETURN(auto w, AtomicFileWriter::create(path));
  SectionWriter sw(w.get());
  uint8_t head[24] = {};
  std::memcpy(head, kMagic, 8);
  const uint32_t version = 2, sections = static_cast<uint32_t>(2 + state.size());
  const uint64_t json_bytes = text.size();
  std::memcpy(head + 8, &version, 4);
  std::memcpy(head + 12, &sections, 4);
  std::memcpy(head + 16, &json_bytes, 8);
  MNEMO_RETURN_IF_ERROR(sw.write(head, sizeof head));
  MNEMO_RETURN_IF_ERROR(sw.write(text.data(), text.size()));
  const std::string pad(padded(24 + json_bytes) - (24 + json_bytes), '\0');
  MNEMO_RETURN_IF_ERROR(sw.write(pad.data(), pad.size()));
  sw.end_section();
  MNEMO_RETURN_IF_ERROR(sw.write(params, static_cast<size_t>(meta.n_params) * sizeof(float)));
  sw.end_section();
  for (const StateTensor& t : state) {
    MNEMO_RETURN_IF_ERROR(sw.write(t.data, static_cast<size_t>(t.n) * sizeof(float)));
    sw.end_section();
  }
  MNEMO_RETURN_IF_ERROR(sw.seal());
  return w->commit();
}

Expected<CheckpointMeta> read_checkpoint_meta(const std::string& path) {
  MNEMO_ASSIGN_OR_RETURN(Opened o, open_checkpoint(path));
  if (o.version == 2) {  // every section against its checksum
    for (size_t i = 0; i < o.v2->tensor_sections(); ++i) MNEMO_RETURN_IF_ERROR(o.v2->section(i, nullptr));
    return std::move(o.meta);
  }
  SealedReader r;
  MNEMO_RETURN_IF_ERROR(r.open(path));
  // Checksum first: nothing in the file is trusted before it matches.
  SealedReader whole;
  MNEMO_RETURN_IF_ERROR(whole.open(path));
  MNEMO_RETURN_IF_ERROR(whole.verify());
  return read_header_v1(r, path);
}

Status check_checkpoint_matches(const CheckpointMeta& m, const TrainShape& shape, const OptimizerSettings& opt,
                                const std::vector<StateTensor>* state, const std::string& path) {
  auto field = [&](const char* name, long long want, long long found) -> Status {
    if (want == found) return Status::ok();
    return invalid_argument(str_printf("%s: model.%s: expected %lld (the config's), found %lld: the checkpoint is of "
                                       "a different model",
                                       path.c_str(), name, want, found));
  };
  MNEMO_RETURN_IF_ERROR(field("n_vocab", shape.n_vocab, m.shape.n_vocab));
  MNEMO_RETURN_IF_ERROR(field("n_embd", shape.n_embd, m.shape.n_embd));
  MNEMO_RETURN_IF_ERROR(field("n_layer", shape.n_layer, m.shape.n_layer));
  MNEMO_RETURN_IF_ERROR(field("n_head", shape.n_head, m.shape.n_head));
  MNEMO_RETURN_IF_ERROR(field("n_head_kv", shape.n_head_kv, m.shape.n_head_kv));
  MNEMO_RETURN_IF_ERROR(field("n_ff", shape.n_ff, m.shape.n_ff));
  MNEMO_RETURN_IF_ERROR(field("tied_output", shape.tied_output, m.shape.tied_output));
  if (!(shape == m.shape)) {
    return invalid_argument(path + ": model: expected " + describe_shape(shape) + " (the config's), found " +
                            describe_shape(m.shape) + " (n_ctx, rms_eps or rope_base differ)");
  }
  if (m.optimizer.type != opt.type) {
    return invalid_argument(path + ": optimizer.type: expected \"" + opt.type + "\" (the config's), found \"" +
                            m.optimizer.type + "\"");
  }
  if (opt.type == "galore" && (m.optimizer.rank != opt.rank || m.optimizer.proj_type != opt.proj_type)) {
    return invalid_argument(str_printf("%s: optimizer.galore: expected rank %lld, %s (the config's), found rank %lld, %s",
                                       path.c_str(), static_cast<long long>(opt.rank), opt.proj_type.c_str(),
                                       static_cast<long long>(m.optimizer.rank), m.optimizer.proj_type.c_str()));
  }
  if (state == nullptr) return Status::ok();
  if (m.state.size() != state->size()) {
    return invalid_argument(str_printf("%s: optimizer state: expected %zu tensors, found %zu", path.c_str(),
                                       state->size(), m.state.size()));
  }
  for (size_t i = 0; i < state->size(); ++i) {
    const StateTensor& t = (*state)[i];
    if (m.state[i].first != t.name || m.state[i].second != t.n) {
      return invalid_argument(str_printf("%s: optimizer state %zu: expected %s (%lld floats), found %s (%lld)",
                                         path.c_str(), i, t.name.c_str(), static_cast<long long>(t.n),
                                         m.state[i].first.c_str(), static_cast<long long>(m.state[i].second)));
    }
  }
  return Status::ok();
}

Status load_checkpoint(const std::string& path, const CheckpointMeta& meta, float* params,
                       const std::vector<StateTensor>& state) {
  MNEMO_ASSIGN_OR_RETURN(Opened o, open_checkpoint(path));
  if (o.version == 2) {
    if (o.meta.n_params != meta.n_params || o.meta.step != meta.step || o.meta.state.size() != state.size()) {
      return corrupt(path + ": the file changed while it was being read");
    }
    MNEMO_RETURN_IF_ERROR(o.v2->section(0, params));
    for (size_t i = 0; i < state.size(); ++i) {
      if (state[i].n != o.meta.state[i].second) return corrupt(path + ": the file changed while it was being read");
      MNEMO_RETURN_IF_ERROR(o.v2->section(i + 1, state[i].data));
    }
    return Status::ok();
  }
  SealedReader r;
  MNEMO_RETURN_IF_ERROR(r.open(path));
  MNEMO_ASSIGN_OR_RETURN(CheckpointMeta again, read_header_v1(r, path));
  if (again.n_params != meta.n_params || again.step != meta.step) {
    return corrupt(path + ": the file changed while it was being read");
  }
  MNEMO_RETURN_IF_ERROR(r.read(params, static_cast<uint64_t>(meta.n_params) * sizeof(float)));
  for (const StateTensor& t : state) MNEMO_RETURN_IF_ERROR(r.read(t.data, static_cast<uint64_t>(t.n) * sizeof(float)));
  return r.verify();
}

int64_t checkpoint_floats(int64_t n_params, const std::vector<StateTensor>& state) {
  int64_t n = n_params;
  for (const StateTensor& t : state) n += t.n;
  return n;
}

void set_checkpoint_write_hook(void (*hook)()) { g_write_hook.store(hook); }

void prune_checkpoints(const std::string& dir, int64_t keep) {
  if (keep <= 0) return;
  auto list = list_checkpoints(dir);
  for (size_t i = 0; i + static_cast<size_t>(keep) < list.size(); ++i) {
    std::error_code ec;
    std::filesystem::remove(list[i].second, ec);
  }
}

std::string checkpoint_path(const std::string& dir, int64_t step) {
  return str_printf("%s/ckpt_%08lld.bin", dir.c_str(), static_cast<long long>(step));
}

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (!starts_with(name, "ckpt_") || !ends_with(name, ".bin") || name.size() != 17) continue;
    int64_t step;
    if (!parse_int64(std::string_view(name).substr(5, 8), &step)) continue;
    out.emplace_back(step, dir + "/" + name);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace mnemo::train
