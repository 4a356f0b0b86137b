// SqlAnalyzer: libpg_query parse, per-statement facts, normalisation, fingerprint, shape cache.
#include "policy/sql/analyzer.h"

#include <pg_query.h>

#include <absl/container/flat_hash_map.h>
#include <absl/strings/string_view.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "policy/mask/masker.h"
#include "policy/sql/shape_cache.h"
#include "policy/sql/sql_lexer.h"
#include "policy/sql/tree_walker.h"

namespace tollgate::policy {
namespace {

using nlohmann::json;

// Parser messages can quote the offending token (a literal, maybe a card number): keep the
// message up to the quote and say where instead.
std::string safeError(const PgQueryError* error) {
  std::string msg = error->message == nullptr ? "parse error" : error->message;
  for (const char* cut : {" at or near", " at end of input", "\"", "'", ":"}) {
    const size_t pos = msg.find(cut);
    if (pos != std::string::npos) {
      if (std::string_view(cut) == " at end of input") {
        msg.resize(pos + std::string_view(cut).size());
      } else {
        msg.resize(pos);
      }
    }
  }
  for (char& c : msg) {
    if (c >= '0' && c <= '9') c = '#';
  }
  if (msg.empty()) msg = "parse error";
  if (error->cursorpos > 0) msg += " (at offset " + std::to_string(error->cursorpos) + ")";
  return msg;
}

QueryFactsPtr failure(std::string error) {
  auto facts = std::make_shared<QueryFacts>();
  facts->parsed = false;
  facts->error = std::move(error);
  return facts;
}

// The statement as the audit trail shows it: literals replaced by $n, and card numbers a
// quoted identifier holds ("4111111111111111" as a column alias, cursor or savepoint name)
// masked, since the text goes to the events file, the control plane and approvers.
std::string normalize(const std::string& text) {
  PgQueryNormalizeResult r = pg_query_normalize(text.c_str());
  std::string out = r.error == nullptr && r.normalized_query != nullptr
                        ? sql::scrubLiterals(r.normalized_query)
                        : sql::scrubLiterals(text);
  pg_query_free_normalize_result(r);
  return scrubPans(out);
}

std::string fingerprint(const std::string& text) {
  PgQueryFingerprintResult r = pg_query_fingerprint(text.c_str());
  std::string out = r.error == nullptr && r.fingerprint_str != nullptr ? r.fingerprint_str : "";
  pg_query_free_fingerprint_result(r);
  return out;
}

int intField(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? it->get<int>() : 0;
}

QueryFactsPtr analyzeFresh(std::string_view sql, bool* literal_sensitive) {
  *literal_sensitive = false;
  if (sql.find('\0') != std::string_view::npos) {
    return failure("query text contains a NUL byte");
  }
  const std::string text(sql);
  PgQueryParseResult parsed = pg_query_parse(text.c_str());
  if (parsed.error != nullptr) {
    QueryFactsPtr f = failure(safeError(parsed.error));
    pg_query_free_parse_result(parsed);
    return f;
  }
  json tree = json::parse(parsed.parse_tree == nullptr ? "" : parsed.parse_tree, nullptr,
                          /*allow_exceptions=*/false);
  pg_query_free_parse_result(parsed);
  if (tree.is_discarded() || !tree.is_object()) return failure("unreadable parse tree");

  auto facts = std::make_shared<QueryFacts>();
  auto stmts = tree.find("stmts");
  if (stmts == tree.end() || !stmts->is_array()) return facts;  // empty query
  for (const json& entry : *stmts) {
    if (!entry.is_object()) continue;
    auto stmt = entry.find("stmt");
    if (stmt == entry.end()) continue;
    sql::WalkResult walked = sql::walkStatement(*stmt);
    if (walked.too_deep) return failure("statement nests too deeply to analyse");
    *literal_sensitive |= walked.literal_sensitive;
    const auto location = static_cast<size_t>(std::max(0, intField(entry, "stmt_location")));
    const int len = intField(entry, "stmt_len");
    std::string piece =
        location >= text.size()
            ? std::string()
            : text.substr(location, len > 0 ? static_cast<size_t>(len) : std::string::npos);
    walked.facts.normalized = normalize(piece);
    walked.facts.fingerprint = fingerprint(piece);
    walked.facts.lineage = sql::outputLineage(*stmt);
    facts->statements.push_back(std::move(walked.facts));
  }
  return facts;
}

// A shape may be shared when changing its masked literals moves no fingerprint.
bool shapeIsStable(std::string_view sql, const std::vector<sql::LiteralSpan>& spans) {
  if (spans.empty()) return true;
  const std::string original = fingerprint(std::string(sql));
  const std::string v0 = fingerprint(sql::substituteLiterals(sql, spans, 0));
  const std::string v1 = fingerprint(sql::substituteLiterals(sql, spans, 1));
  return !original.empty() && original == v0 && v0 == v1;
}

std::atomic<uint64_t> next_analyzer_id{1};

struct ThreadCaches {
  absl::flat_hash_map<uint64_t, std::unique_ptr<sql::ShapeCache>> by_analyzer;
  uint64_t last_id = 0;
  sql::ShapeCache* last = nullptr;
  std::string key;
  std::string exact_key;
  std::vector<sql::LiteralSpan> spans;
};

constexpr size_t kMaxAnalyzersPerThread = 16;

sql::ShapeCache* threadCache(ThreadCaches& tc, uint64_t id, size_t capacity) {
  if (tc.last_id == id) return tc.last;
  auto it = tc.by_analyzer.find(id);
  if (it == tc.by_analyzer.end()) {
    // Caches of analyzers that are gone stay until the thread ends; bound them.
    if (tc.by_analyzer.size() >= kMaxAnalyzersPerThread) tc.by_analyzer.clear();
    it = tc.by_analyzer.emplace(id, std::make_unique<sql::ShapeCache>(capacity)).first;
  }
  tc.last_id = id;
  tc.last = it->second.get();
  return tc.last;
}

}  // namespace

SqlAnalyzer::SqlAnalyzer(size_t cache_entries)
    : cache_entries_(cache_entries), id_(next_analyzer_id.fetch_add(1)) {}

QueryFactsPtr SqlAnalyzer::analyzeUncached(std::string_view sql) {
  bool sensitive = false;
  return analyzeFresh(sql, &sensitive);
}

QueryFactsPtr SqlAnalyzer::analyze(std::string_view sql) const {
  if (cache_entries_ == 0 || sql.size() > kMaxCachedBytes) return analyzeUncached(sql);
  thread_local ThreadCaches tc;
  if (!sql::shapeKey(sql, &tc.key, &tc.spans)) return analyzeUncached(sql);
  sql::ShapeCache* cache = threadCache(tc, id_, cache_entries_);
  const absl::string_view key(tc.key.data(), tc.key.size());
  if (const sql::ShapeCache::Entry* hit = cache->find(key)) {
    if (!hit->exact_only) return hit->facts;
    tc.exact_key.assign("\x03");
    tc.exact_key.append(sql.data(), sql.size());
    const sql::ShapeCache::Entry* exact =
        cache->find(absl::string_view(tc.exact_key.data(), tc.exact_key.size()));
    if (exact != nullptr && exact->facts != nullptr) return exact->facts;
  }
  bool sensitive = false;
  QueryFactsPtr facts = analyzeFresh(sql, &sensitive);
  if (!facts->parsed) return facts;
  if (!sensitive && shapeIsStable(sql, tc.spans)) {
    cache->insert(key, {facts, false});
  } else {
    // Shape keys never start with \x03 (shapeKey refuses control bytes).
    cache->insert(key, {nullptr, true});
    tc.exact_key.assign("\x03");
    tc.exact_key.append(sql.data(), sql.size());
    cache->insert(absl::string_view(tc.exact_key.data(), tc.exact_key.size()), {facts, false});
  }
  return facts;
}

}  // namespace tollgate::policy
