// ltm/ann/crc32c.h: CRC-32C (Castagnoli), the checksum of every index file and posting list.
// Uses the SSE4.2 instruction when the CPU has it (checked at run time), else a table.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mnemo::ltm::ann {

// Extends `crc` (0 for a new checksum) over `n` bytes: crc32c(a||b) == crc32c_extend(crc32c(a), b).
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t n);
inline uint32_t crc32c(const void* data, size_t n) { return crc32c_extend(0, data, n); }

}  // namespace mnemo::ltm::ann
