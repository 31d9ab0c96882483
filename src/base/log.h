// base/log.h: diagnostics on stderr. stdout belongs to the command's output alone.
#pragma once

namespace mnemo {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

void set_log_level(LogLevel level);
LogLevel log_level();
void log_message(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace mnemo

#define MNEMO_LOG_WARN(...) ::mnemo::log_message(::mnemo::LogLevel::kWarn, __VA_ARGS__)
#define MNEMO_LOG_INFO(...) ::mnemo::log_message(::mnemo::LogLevel::kInfo, __VA_ARGS__)
#define MNEMO_LOG_DEBUG(...) ::mnemo::log_message(::mnemo::LogLevel::kDebug, __VA_ARGS__)
