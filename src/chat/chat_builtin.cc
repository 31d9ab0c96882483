// chat/chat_builtin.cc: built-in chat formats (--chat-template NAME), written here as Jinja
// templates and run by the same interpreter as a model's own template. Each follows its model
// family's published prompt format.
#include "chat/chat_builtin.h"

namespace mnemo::chat {
namespace {

struct Builtin {
  const char* name;
  const char* source;
};

// System messages: chatml, llama2, llama3, phi3, zephyr and vicuna render them; gemma and mistral
// do not, so ChatTemplate merges them into the next user message.
const Builtin kBuiltins[] = {
    {"chatml",
     "{%- for message in messages -%}\n"
     "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"},
    {"llama2",
     "{%- if messages and messages[0]['role'] == 'system' -%}\n"
     "  {%- set system = messages[0]['content'] -%}{%- set turns = messages[1:] -%}\n"
     "{%- else -%}\n"
     "  {%- set system = none -%}{%- set turns = messages -%}\n"
     "{%- endif -%}\n"
     "{%- for message in turns -%}\n"
     "  {%- if message['role'] == 'user' -%}\n"
     "    {%- set text = message['content'] -%}\n"
     "    {%- if loop.first and system is not none -%}\n"
     "      {%- set text = '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' + text -%}\n"
     "    {%- endif -%}\n"
     "    {{ bos_token + '[INST] ' + text | trim + ' [/INST]' }}\n"
     "  {%- elif message['role'] == 'assistant' -%}\n"
     "    {{ ' ' + message['content'] | trim + ' ' + eos_token }}\n"
     "  {%- endif -%}\n"
     "{%- endfor -%}"},
    {"llama3",
     "{{- bos_token -}}\n"
     "{%- for message in messages -%}\n"
     "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif -%}"},
    {"mistral",
     "{{- bos_token -}}\n"
     "{%- for message in messages -%}\n"
     "  {%- if message['role'] == 'user' -%}{{ '[INST] ' + message['content'] + ' [/INST]' }}\n"
     "  {%- elif message['role'] == 'assistant' -%}{{ message['content'] + eos_token }}\n"
     "  {%- endif -%}\n"
     "{%- endfor -%}"},
    {"gemma",
     "{{- bos_token -}}\n"
     "{%- for message in messages if message['role'] != 'system' -%}\n"
     "  {%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}\n"
     "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"},
    {"phi3",
     "{%- for message in messages -%}\n"
     "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' }}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- endif -%}"},
    {"zephyr",
     "{%- for message in messages -%}\n"
     "{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- endif -%}"},
    {"vicuna",
     "{%- for message in messages -%}\n"
     "  {%- if message['role'] == 'system' -%}{{ message['content'] + '\\n\\n' }}\n"
     "  {%- elif message['role'] == 'user' -%}{{ 'USER: ' + message['content'] + '\\n' }}\n"
     "  {%- else -%}{{ 'ASSISTANT: ' + message['content'] + eos_token + '\\n' }}\n"
     "  {%- endif -%}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{ 'ASSISTANT:' }}{%- endif -%}"},
};

}  // namespace

const char* builtin_source(std::string_view name) {
  for (const Builtin& b : kBuiltins) {
    if (name == b.name) return b.source;
  }
  return nullptr;
}

std::vector<std::string> builtin_template_names() {
  std::vector<std::string> out;
  for (const Builtin& b : kBuiltins) out.emplace_back(b.name);
  return out;
}

}  // namespace mnemo::chat
