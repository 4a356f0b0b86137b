// Detector scans of a value's text by the notation it may be written in: plain digits, decimal
// and exponent numbers, money, bytea hex, float8 elements of arrays and records. Shared by the
// result-set masker (which knows each column's type) and the COPY masker (which does not).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "policy/detect/number_forms.h"
#include "policy/mask/masker.h"

namespace tollgate::sidecar::postgres {

// Detector scan of a number written in `form`: its plain digits, else the integer it writes
// ("4.111111111111111e+15", "$4,111,111,111,111,111.00"). With `keep_type` the result is a
// valid text of the same notation (hidden digits zeroed), else the masked digits
// ("411111******1111", '-' kept). nullopt when unchanged; `*hit` receives the rule.
std::optional<std::string> maskNumberText(const policy::Masker& masker, policy::NumberForm form,
                                          std::string_view text, bool keep_type, std::string* hit);

// Detector scan of any other text (bytea, arrays, records, free text): the text itself, the
// bytes of every hex bytea in it and every integer in exponent form (zeroed in place). nullopt
// when unchanged; `*hit` receives the first rule when empty.
std::optional<std::string> maskOtherText(const policy::Masker& masker,
                                         const policy::ColumnPlan& plan, std::string_view text,
                                         std::string* hit);

// True when `text` is written the way PostgreSQL writes money whatever lc_monetary says: at
// most a few non-digit bytes around digits grouped by threes ("$4,111,111.00", "4.111,00 EUR",
// "(¥1,234)"). Timestamps, phone numbers and plain digits are not.
bool looksLikeMoney(std::string_view text);

}  // namespace tollgate::sidecar::postgres
