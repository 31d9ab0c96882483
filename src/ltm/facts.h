// ltm/facts.h: LLM-free guards on what the memory stores: whether two near-duplicate texts can be
// merged without losing a fact, and whether an assistant message is only an acknowledgement.
//
// Near duplicates (issue 16): stem-set Jaccard >= 0.8 merged "...on 7 May 2023" into "...on 14 May
// 2023" and "camping at the lake" into "camping at the beach": distinct events, one lost. Two
// texts may be merged only when no number, date, name or place differs between them, judged
// without a model by their words (Porter stems, as the Jaccard is):
//  - a word with a digit in one text and not the other (numbers, dates, times, amounts) differs;
//  - a word written capitalised anywhere but at the start of a sentence (a name, a place, a
//    month, a weekday, a brand) in one text and not the other differs;
//  - a substitution, i.e. each text has a word the other lacks, differs: "lake" for "beach",
//    "sister" for "brother"; what is left is one text saying the other plus some words
//    ("I really love hiking" / "I love hiking"), which is the rewording dedup is for.
// Otherwise both are kept (the service stores a second memory).
#pragma once

#include <string_view>

namespace mnemo::ltm {

// Whether `old_text` may be replaced by `new_text` as a rewording (see above).
bool same_facts(std::string_view old_text, std::string_view new_text);

// Whether an assistant's message says nothing but that it heard or will remember ("Got it, I'll
// remember that.", "Noted, thanks for letting me know!"): at most 24 words, all from a closed
// list of acknowledgement and function words, no digits. Any other word makes it content.
bool is_acknowledgement(std::string_view text);

}  // namespace mnemo::ltm
