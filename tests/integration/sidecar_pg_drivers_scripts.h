// Driver scripts of sidecar_pg_drivers_test.cc: each connects through the sidecar and prints one
// "check<TAB>value" line per check (rows as columns joined by '|', rows joined by ';'; a failed
// check prints "ERROR <sqlstate> <message>" as its value), ending with "done".
#pragma once

namespace tollgate::testing {

// argv: sidecar port, password. Rows inserted: ids 1000-1099.
inline constexpr char kAsyncpgScript[] = R"PY(
import asyncio, io, sys, asyncpg
PORT, PW = int(sys.argv[1]), sys.argv[2]
SEL = ("select id, holder, pan, pan_vc, pan_num, pan_dec, cvv from cards where id <= $1 "
       "order by id")
def out(k, v): print(k + "\t" + v, flush=True)
def row(r): return "|".join("NULL" if v is None else str(v) for v in r)
def rows(rs): return ";".join(row(r) for r in rs)
async def check(key, fn):
    try:
        v = await fn()
        out(key, rows(v) if isinstance(v, list) else row(v) if isinstance(v, asyncpg.Record)
            else str(v))
    except Exception as e:
        out(key, "ERROR %s %s" % (getattr(e, "sqlstate", type(e).__name__), e))
async def blocked(conn, sql, tx_insert=None):
    try:
        if tx_insert is None:
            await conn.fetch(sql)  # extended protocol
        else:
            async with conn.transaction():
                await conn.execute(tx_insert)
                await conn.execute(sql)  # simple protocol
        return "not-blocked"
    except asyncpg.PostgresError as e:
        return "%s %s" % (e.sqlstate, e)
async def main():
    conn = await asyncpg.connect(host="127.0.0.1", port=PORT, user="job", password=PW,
                                 database="payments", ssl=False)
    out("connected", "yes")
    await check("text", lambda: conn.fetch(SEL, 6))
    await check("text-cached", lambda: conn.fetch(SEL, 6))
    async def prepared():
        st = await conn.prepare(SEL)
        out("describe", ",".join(a.name + ":" + a.type.name for a in st.get_attributes()))
        return await st.fetch(6)
    await check("prepared", prepared)
    await check("by-bigint-param", lambda: conn.fetchrow(
        "select pan, pan_vc, cvv from cards where pan_num = $1", 5555555555554444))
    await check("count", lambda: conn.fetchval("select count(*) from cards where id <= $1", 6))
    async def cursor():
        async with conn.transaction():
            cur = await conn.cursor(SEL, 6)
            return await cur.fetch(4) + await cur.fetch(4)
    await check("cursor", cursor)
    async def executemany():
        await conn.executemany(
            "insert into cards (id, holder, pan, pan_vc, pan_num, cvv) "
            "values ($1, $2, $3, $4, $5, $6)",
            [(1000, "Async One", "4111111111111111", "4111111111111111", 4111111111111111, "111"),
             (1001, "Async Two", "5555555555554444", "5555555555554444", 5555555555554444,
              "222")])
        return "ok"
    await check("executemany", executemany)
    await check("copy-in", lambda: conn.copy_records_to_table(
        "cards", columns=["id", "holder", "pan", "pan_vc", "cvv"],
        records=[(1010, "Async Copy", "378282246310005", "378282246310005", "3333"),
                 (1011, "Async Copy", "6011111111111117", "6011111111111117", "4444")]))
    # A bigint card column is described as text (masking may change its values), and asyncpg's
    # binary COPY encodes by the types of a prepared SELECT: it refuses the int before sending
    # anything (a documented limitation). Text COPY stores it.
    await check("copy-in-bigint", lambda: conn.copy_records_to_table(
        "cards", columns=["id", "pan_num"], records=[(1012, 4111111111111111)]))
    # (When a COPY fails on the client side asyncpg cancels it; this statement is slow enough for
    # a late cancel to land here instead of on the checks after it.)
    await check("after-copy", lambda: conn.fetchval("select 'after-copy' from pg_sleep(0.2)"))
    await check("copy-in-text", lambda: conn.copy_to_table(
        "cards", columns=["id", "holder", "pan_num"], format="csv",
        source=io.BytesIO(b"1030,Async Csv,378282246310005\n1031,Async Csv,6011111111111117\n")))
    await check("read-back", lambda: conn.fetch(
        "select id, pan, pan_vc, cvv from cards where id between 1000 and 1099 order by id"))
    async def array():
        v = await conn.fetchval("select array_agg(pan_vc order by id) from cards where id <= 2")
        return ",".join(v)
    await check("array", array)
    async def record():
        v = await conn.fetchval("select row(pan_vc, holder) from cards where id = 1")
        return ",".join(str(x) for x in v)
    await check("record", record)
    await check("alias", lambda: conn.fetchval("select cvv as code from cards where id = 1"))
    # A float8 holds a 16-digit card number exactly; bytea carries its digits as bytes.
    await check("float8", lambda: conn.fetchval("select pan_num::float8 from cards where id = 1"))
    await check("bytea", lambda: conn.fetchval("select pan_vc::bytea from cards where id = 1"))
    await check("blocked", lambda: blocked(
        conn, "drop table cards", "insert into cards (id, holder) values (1020, 'rolled back')"))
    await check("rolled-back-rows",
                lambda: conn.fetchval("select count(*) from cards where id = 1020"))
    await check("blocked-extended",
                lambda: blocked(conn, "alter table cards add column leaked text"))
    # A record asyncpg cannot encode fails the COPY on the client side; asyncpg then cancels the
    # COPY and waits for the cancel connection to close. The next statement must not be hit.
    async def cancel_after_copy_error():
        hits = 0
        for i in range(5):
            try:
                await conn.copy_records_to_table("cards", columns=["id", "holder"],
                                                 records=[(1090 + i, 12345)])
            except TypeError:
                pass
            try:
                await conn.fetchval("select 1 from pg_sleep(0.05)")
            except asyncpg.QueryCanceledError:
                hits += 1
        return "%d of 5 next statements cancelled" % hits
    await check("cancel-after-copy-error", cancel_after_copy_error)
    await check("usable", lambda: conn.fetchval("select 'still-usable'"))
    await conn.close()
    out("done", "yes")
asyncio.run(main())
)PY";

// argv: libpq conninfo of the sidecar, password. Rows inserted: ids 1100-1199.
inline constexpr char kPsycopgScript[] = R"PY(
import sys, psycopg, psycopg.errors
SEL = ("select id, holder, pan, pan_vc, pan_num, pan_dec, cvv from cards where id <= %s "
       "order by id")
ONE = "select id, holder, pan, pan_vc, pan_num, pan_dec, cvv from cards where id = %s"
def out(k, v): print(k + "\t" + v, flush=True)
def row(r): return "|".join("NULL" if v is None else str(v) for v in r)
def rows(rs): return ";".join(row(r) for r in rs)
def check(key, fn):
    try:
        v = fn()
        out(key, rows(v) if isinstance(v, list) else str(v))
    except Exception as e:
        out(key, "ERROR %s %s" % (getattr(e, "sqlstate", type(e).__name__), e))
conn = psycopg.connect(sys.argv[1], password=sys.argv[2], prepare_threshold=0, autocommit=True)
out("connected", "yes")
cur = conn.cursor()
check("text", lambda: cur.execute(SEL, (6,)).fetchall())
check("prepared-again", lambda: cur.execute(SEL, (6,)).fetchall())
bcur = conn.cursor(binary=True)
check("binary", lambda: bcur.execute(SEL, (6,)).fetchall())
check("binary-prepared", lambda: bcur.execute(SEL, (6,)).fetchall())
check("binary-types", lambda: ",".join(psycopg.adapters.types.get(d.type_code).name
                                       for d in bcur.description))
check("binary-array", lambda: ",".join(bcur.execute(
    "select array_agg(pan_vc order by id) from cards where id <= 2").fetchone()[0]))
def pipeline():
    c1, c2, c3 = conn.cursor(), conn.cursor(binary=True), conn.cursor()
    with conn.pipeline():
        c1.execute(ONE, (1,))
        c2.execute(ONE, (2,))
        c3.execute("select count(*) from cards where id <= %s", (6,))
    return "#".join([rows(c1.fetchall()), rows(c2.fetchall()), str(c3.fetchone()[0])])
check("pipeline", pipeline)
# A failing statement in the middle of a pipeline: what the failure and the statement after it
# report ("aborted" when the pipeline skipped it, as the server does after an error).
def pipeline_failing(sql, key):
    c1, c2, c3 = conn.cursor(), conn.cursor(), conn.cursor()
    try:
        with conn.pipeline():
            c1.execute("select 1")
            c2.execute(sql)
            c3.execute("select 2")
        return "not-failed"
    except psycopg.Error as e:
        try:
            c3.fetchone()
            out(key + "-after", "ran")
        except psycopg.errors.PipelineAborted:
            out(key + "-after", "aborted")
        except psycopg.Error as e3:
            out(key + "-after", "other %s" % e3)
        return "%s %s" % (e.sqlstate, e)
check("pipeline-servererror", lambda: pipeline_failing("select 1/0", "pipeline-servererror"))
check("pipeline-blocked", lambda: pipeline_failing("drop table cards", "pipeline-blocked"))
check("pipeline-usable", lambda: cur.execute("select 'still-usable'").fetchone()[0])
def copy_text():
    with conn.cursor() as c:
        with c.copy("copy cards (id, holder, pan, cvv) from stdin") as cp:
            cp.write_row((1100, "Psy Copy", "5555555555554444", "111"))
            cp.write_row((1101, "Psy Copy", "378282246310005", "2222"))
        return c.rowcount
check("copy-in", copy_text)
def copy_binary():
    with conn.cursor() as c:
        with c.copy("copy cards (id, holder, pan, pan_vc, pan_num, cvv) from stdin "
                    "(format binary)") as cp:
            cp.set_types(["int4", "text", "text", "varchar", "int8", "text"])
            cp.write_row((1110, "Psy Binary", "3530111333300000", "3530111333300000",
                          3530111333300000, "555"))
        return c.rowcount
check("copy-in-binary", copy_binary)
check("read-back", lambda: cur.execute(
    "select id, pan, cvv from cards where id between 1100 and 1199 order by id").fetchall())
def tx_blocked():
    try:
        with conn.transaction():
            cur.execute("insert into cards (id, holder) values (1120, 'rolled back')")
            cur.execute("alter table cards drop column cvv")
        return "not-blocked"
    except psycopg.Error as e:
        return "%s %s" % (e.sqlstate, e)
check("blocked", tx_blocked)
check("rolled-back-rows",
      lambda: cur.execute("select count(*) from cards where id = 1120").fetchone()[0])
check("usable", lambda: cur.execute("select 'still-usable'").fetchone()[0])
conn.close()
# A second session: a failed statement in a pipeline whose error arrives before the rest of the
# pipeline is sent (psycopg sends a flush request when a result is fetched inside the block).
conn = psycopg.connect(sys.argv[1], password=sys.argv[2], autocommit=True)
def after_pipeline_error():
    c1, c2 = conn.cursor(), conn.cursor()
    try:
        with conn.pipeline():
            c1.execute("drop table cards")
            try:
                c1.fetchone()
            except psycopg.Error as e:
                out("flushed-error", "%s %s" % (e.sqlstate, e))
            c2.execute("select 2")
    except psycopg.errors.PipelineAborted:
        pass
    return conn.execute("select pan_vc, pan_num, cvv from cards where id = 1").fetchall()
check("after-pipeline-error", after_pipeline_error)
check("after-pipeline-error-2", lambda: conn.execute(ONE, (2,)).fetchall())
conn.close()
out("done", "yes")
)PY";

// argv: sidecar port, password. NODE_PATH must reach node-pg.
inline constexpr char kNodePgScript[] = R"JS(
const { Client } = require('pg');
const port = Number(process.argv[2]), password = process.argv[3];
const SEL = 'select id, holder, pan, pan_vc, pan_num, pan_dec, cvv from cards where id <= $1 ' +
    'order by id';
const out = (k, v) => process.stdout.write(k + '\t' + v + '\n');
const cell = (v) => v === null ? 'NULL' : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
const rows = (res) => res.rows.map((r) => r.map(cell).join('|')).join(';');
async function check(key, fn) {
  try {
    out(key, await fn());
  } catch (e) {
    out(key, 'ERROR ' + (e.code || '') + ' ' + e.message);
  }
}
async function blocked(c, query) {
  try {
    await c.query(query);
    return 'not-blocked';
  } catch (e) {
    return e.code + ' ' + e.message;
  }
}
(async () => {
  const c = new Client({host: '127.0.0.1', port, user: 'job', password, database: 'payments'});
  await c.connect();
  out('connected', 'yes');
  const named = {name: 'cards_by_id', text: SEL, values: [6], rowMode: 'array'};
  await check('text', async () => rows(await c.query({text: SEL, values: [6], rowMode: 'array'})));
  await check('simple', async () => rows(await c.query(
      {text: SEL.replace('$1', '6'), rowMode: 'array'})));
  await check('named', async () => rows(await c.query(named)));
  await check('named-again', async () => rows(await c.query(named)));
  // (node-pg 8.8's binary mode writes a malformed Bind, which PostgreSQL itself rejects.)
  await check('types', async () => (await c.query({text: SEL, values: [6]}))
      .fields.map((f) => f.dataTypeID).join(','));
  await check('by-text-param', async () => rows(await c.query({
    text: 'select pan, cvv from cards where pan_vc = $1',
    values: ['4111111111111111'], rowMode: 'array'})));
  await check('blocked', () => blocked(c, 'drop table cards'));
  await check('blocked-named', () => blocked(c, {name: 'ddl', text:
      'alter table cards add column leaked text', values: []}));
  await check('named-after-block', async () => rows(await c.query(named)));
  await check('usable', async () => (await c.query("select 'still-usable' as v")).rows[0].v);
  await c.end();
  out('done', 'yes');
})().catch((e) => {
  out('fatal', e.message);
  process.exit(1);
});
)JS";

// argv: sidecar port, password. Rows inserted: ids 1300-1399.
inline constexpr char kDbdPgScript[] = R"PL(
use strict;
use warnings;
use DBI qw(:sql_types);
my ($port, $password) = @ARGV;
$| = 1;
my $SEL = 'select id, holder, pan, pan_vc, pan_num, pan_dec, cvv from cards where id <= ? '
    . 'order by id';
sub out { print "$_[0]\t$_[1]\n"; }
sub rows {
  join(';', map { join('|', map { defined $_ ? $_ : 'NULL' } @$_) } @{ $_[0] });
}
sub check {
  my ($key, $fn) = @_;
  my $v = eval { $fn->() };
  out($key, defined $v ? $v : 'ERROR ' . ($DBI::state // '') . ' ' . ($@ // ''));
}
sub blocked {
  my ($fn) = @_;
  my $ok = eval { $fn->(); 1 };
  return $ok ? 'not-blocked' : $DBI::state . ' ' . $DBI::errstr;
}
my $dbh = DBI->connect("dbi:Pg:host=127.0.0.1;port=$port;dbname=payments;sslmode=disable",
                       'job', $password, {RaiseError => 1, PrintError => 0, AutoCommit => 1})
    or die "connect: $DBI::errstr";
out('connected', 'yes');
my $server = $dbh->prepare($SEL, {pg_server_prepare => 1});
check('text', sub { $server->execute(6); rows($server->fetchall_arrayref) });
check('server-prepare', sub { $server->{pg_server_prepare} });
check('server-again', sub { $server->execute(6); rows($server->fetchall_arrayref) });
check('client-side', sub {
  my $sth = $dbh->prepare($SEL, {pg_server_prepare => 0});
  $sth->execute(6);
  rows($sth->fetchall_arrayref);
});
check('by-bigint-param', sub {
  my $sth = $dbh->prepare('select pan_vc, cvv from cards where pan_num = ?');
  $sth->bind_param(1, '6011111111111117', SQL_BIGINT);
  $sth->execute;
  rows($sth->fetchall_arrayref);
});
check('insert', sub {
  $dbh->do('insert into cards (id, holder, pan, pan_num, cvv) values (?, ?, ?, ?, ?)', undef,
           1300, 'Perl One', '5555555555554444', '5555555555554444', '999');
});
check('read-back', sub {
  rows($dbh->selectall_arrayref(
      'select id, pan, pan_num, cvv from cards where id between 1300 and 1399 order by id'));
});
check('blocked', sub {
  $dbh->begin_work;
  $dbh->do('insert into cards (id, holder) values (1320, ?)', undef, 'rolled back');
  my $r = blocked(sub { $dbh->do('drop table cards') });
  $dbh->rollback;
  $r;
});
check('rolled-back-rows', sub {
  ($dbh->selectrow_array('select count(*) from cards where id = 1320'))[0];
});
check('blocked-prepared', sub {
  blocked(sub { $dbh->prepare('alter table cards add column leaked text',
                              {pg_server_prepare => 1, pg_prepare_now => 1})->execute });
});
check('usable', sub { ($dbh->selectrow_array("select 'still-usable'"))[0] });
$dbh->disconnect;
out('done', 'yes');
)PL";

// argv: sidecar port, password.
inline constexpr char kRubyPgScript[] = R"RB(
require 'pg'
port, password = ARGV[0].to_i, ARGV[1]
$stdout.sync = true
SEL = 'select id, holder, pan, pan_vc, pan_num, pan_dec, cvv from cards where id <= $1 order by id'
def out(k, v) = puts("#{k}\t#{v}")
# Binary int4 id in column 0; every other column is text-like (or sent as text).
def rows(res, binary)
  res.values.map do |r|
    r.each_with_index.map do |v, i|
      v.nil? ? 'NULL' : (binary && i.zero? && res.fformat(0) == 1 ? v.unpack1('l>').to_s : v)
    end.join('|')
  end.join(';')
end
def check(key)
  out(key, begin
    yield
  rescue PG::Error => e
    "ERROR #{e.result&.error_field(PG::PG_DIAG_SQLSTATE)} #{e.message}"
  end)
end
def blocked(c, sql)
  c.exec_params(sql, [])
  'not-blocked'
rescue PG::Error => e
  r = e.result
  "#{r.error_field(PG::PG_DIAG_SQLSTATE)} #{r.error_field(PG::PG_DIAG_MESSAGE_PRIMARY)}"
end
c = PG.connect(host: '127.0.0.1', port: port, dbname: 'payments', user: 'job', password: password,
               sslmode: 'disable')
out('connected', 'yes')
check('text') { rows(c.exec_params(SEL, [6], 0), false) }
check('binary') { rows(c.exec_params(SEL, [6], 1), true) }
check('binary-types') do
  r = c.exec_params(SEL, [6], 1)
  (0...r.nfields).map { |i| r.ftype(i) }.join(',')
end
check('binary-formats') do
  r = c.exec_params(SEL, [6], 1)
  (0...r.nfields).map { |i| r.fformat(i) }.join(',')
end
c.prepare('cards_by_id', SEL)
check('prepared-binary') { rows(c.exec_prepared('cards_by_id', [6], 1), true) }
check('prepared-text') { rows(c.exec_prepared('cards_by_id', [6], 0), false) }
check('count-binary') do
  c.exec_params('select count(*) from cards where id <= $1', [6], 1).getvalue(0, 0)
   .unpack1('q>').to_s
end
check('blocked') { blocked(c, 'drop table cards') }
check('rolled-back') do
  c.exec('begin')
  c.exec("select 'in-tx'")
  r = blocked(c, 'drop table cards')
  state = c.transaction_status
  c.exec('rollback')
  ok = r.start_with?('42501') && state == PG::PQTRANS_INERROR &&
       c.transaction_status == PG::PQTRANS_IDLE
  ok ? 'ok' : "#{r} #{state}"
end
check('usable') { c.exec("select 'still-usable'").getvalue(0, 0) }
c.close
out('done', 'yes')
)RB";

// argv: sidecar port, password. Rows inserted: ids 1500-1599. One JVM run for every check.
inline constexpr char kJdbcScript[] = R"JAVA(
import java.sql.*;
import java.util.Properties;

public class DriverCheck {
  static final String SEL = "select id, holder, pan, pan_vc, pan_num, pan_dec, cvv from cards "
      + "where id <= ? order by id";
  interface Check { String run() throws Exception; }
  static void out(String k, String v) { System.out.println(k + "\t" + v); }
  static void check(String k, Check c) {
    String v;
    try {
      v = c.run();
    } catch (SQLException e) {
      v = "ERROR " + e.getSQLState() + " " + e.getMessage();
    } catch (Exception e) {
      v = "ERROR " + e;
    }
    out(k, v);
  }
  static String rows(ResultSet rs) throws SQLException {
    StringBuilder sb = new StringBuilder();
    int n = rs.getMetaData().getColumnCount();
    while (rs.next()) {
      if (sb.length() > 0) sb.append(';');
      for (int i = 1; i <= n; i++) {
        if (i > 1) sb.append('|');
        String s = rs.getString(i);
        sb.append(s == null ? "NULL" : s);
      }
    }
    rs.close();
    return sb.toString();
  }
  static String blocked(Statement st, String sql) {
    try {
      st.execute(sql);
      return "not-blocked";
    } catch (SQLException e) {
      return e.getSQLState() + " " + e.getMessage();
    }
  }
  static String blockedPrepared(Connection c, String sql) {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      ps.execute();
      return "not-blocked";
    } catch (SQLException e) {
      return e.getSQLState() + " " + e.getMessage();
    }
  }
  static Connection connect(String port, String password, String binary) throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", "job");
    p.setProperty("password", password);
    p.setProperty("sslmode", "disable");
    p.setProperty("prepareThreshold", "1");
    if (binary != null) p.setProperty("binaryTransferEnable", binary);
    return DriverManager.getConnection("jdbc:postgresql://127.0.0.1:" + port + "/payments", p);
  }
  public static void main(String[] a) throws Exception {
    Connection c = connect(a[0], a[1], null);
    out("connected", "yes");
    PreparedStatement ps = c.prepareStatement(SEL);
    ps.setInt(1, 6);
    check("text", () -> rows(ps.executeQuery()));
    check("named-2", () -> rows(ps.executeQuery()));
    check("named-3", () -> rows(ps.executeQuery()));
    PreparedStatement one = c.prepareStatement(
        "select id, pan_num, created_ms from cards where id = ?");
    one.setInt(1, 1);
    for (int i = 0; i < 3; i++) {
      ResultSet rs = one.executeQuery();
      rs.next();
      check("getlong-pan", () -> Long.toString(rs.getLong("pan_num")));
      check("getlong-id", () -> Long.toString(rs.getLong("id")));
      check("getlong-created", () -> Long.toString(rs.getLong("created_ms")));
      rs.close();
    }
    PreparedStatement sum = c.prepareStatement("select sum(pan_num) from cards where id = ?");
    sum.setInt(1, 1);
    for (int i = 0; i < 3; i++) check("sum", () -> rows(sum.executeQuery()));
    try (Connection b = connect(a[0], a[1], "TEXT,VARCHAR,NUMERIC,INT8,INT4")) {
      PreparedStatement bps = b.prepareStatement(SEL);
      bps.setInt(1, 6);
      for (int i = 0; i < 3; i++) check("binary", () -> rows(bps.executeQuery()));
    }
    check("batch", () -> {
      PreparedStatement ins = c.prepareStatement("insert into cards (id, holder, pan, pan_vc, "
          + "pan_num, cvv) values (?, ?, ?, ?, ?, ?)");
      String[][] cards = {{"1500", "4111111111111111", "123"}, {"1501", "5555555555554444", "456"},
                          {"1502", "378282246310005", "7890"}};
      for (String[] card : cards) {
        ins.setInt(1, Integer.parseInt(card[0]));
        ins.setString(2, "Jdbc Batch");
        ins.setString(3, card[1]);
        ins.setString(4, card[1]);
        ins.setLong(5, Long.parseLong(card[1]));
        ins.setString(6, card[2]);
        ins.addBatch();
      }
      int[] n = ins.executeBatch();
      return n[0] + "," + n[1] + "," + n[2];
    });
    check("read-back", () -> rows(c.createStatement().executeQuery(
        "select id, pan, pan_num, cvv from cards where id between 1500 and 1599 order by id")));
    check("blocked", () -> blocked(c.createStatement(), "drop table cards"));
    check("blocked-prepared", () -> {
      c.setAutoCommit(false);
      c.createStatement().execute("insert into cards (id, holder) values (1520, 'rolled back')");
      String r = blockedPrepared(c, "alter table cards add column leaked text");
      c.rollback();
      c.setAutoCommit(true);
      return r;
    });
    check("rolled-back-rows", () -> rows(c.createStatement().executeQuery(
        "select count(*) from cards where id = 1520")));
    check("usable", () -> rows(c.createStatement().executeQuery("select 'still-usable'")));
    c.close();
    out("done", "yes");
  }
}
)JAVA";

}  // namespace tollgate::testing
