// Column rules on the fields of composite values (a column of type cardrec(pan, cvv): the rule
// for "cvv" masks its cvv field), through the session's type catalog (type_catalog.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/mask/masker.h"
#include "sidecar/postgres/type_catalog.h"

namespace tollgate::sidecar::postgres {

// The first column rule inside the type of a table column named in `names` (a result column's
// lineage, policy/sql/lineage.h): a value computed from such a column (`card::text`,
// `(card).pan`, `to_jsonb(card)->'cvv'`) may carry the field the rule names. Null when none.
// The catalog's rules must be bound (TypeCatalog::bindRules()).
const policy::MaskingRuleSpec* ruleCarriedBy(const TypeCatalog& catalog,
                                             const std::vector<std::string>& names);

// A value of composite type `type_oid` in text form ("(4111111111111111,123)"): each field a
// column rule names gets that rule; a field of composite type is handled the same way inside,
// one that is an array of composites under a rule is masked whole with it. Returns the new
// text (fields re-quoted as record_out would), or nullopt when nothing changed. `*failed` when
// the text is not a record of that type's fields: the caller masks the whole value instead.
// `*hit` receives the first rule applied, when empty. Also `*failed` when the session ran DDL
// since the catalog was read (TypeCatalog::stale()). The catalog's rules must be bound.
std::optional<std::string> maskCompositeText(const TypeCatalog& catalog,
                                             const policy::Masker& masker, uint32_t type_oid,
                                             std::string_view text, std::string* hit, bool* failed);

}  // namespace tollgate::sidecar::postgres
