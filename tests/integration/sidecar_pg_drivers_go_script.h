// The Go driver script of sidecar_pg_drivers_test.cc (pgx v4, then lib/pq), in the report format
// of sidecar_pg_drivers_scripts.h: one "check<TAB>value" line per check, ending with "done".
#pragma once

namespace tollgate::testing {

// argv: sidecar port, password. Rows inserted: ids 1600-1699. Built with Debian's Go packages
// (GOPATH mode): pgx v4 first (its own protocol code), then lib/pq through database/sql.
inline constexpr char kGoScript[] = R"GO(
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
	"github.com/lib/pq"
)

const SEL = "select id, holder, pan, pan_vc, pan_num, pan_dec, cvv from cards where id <= $1 order by id"

var ctx = context.Background()

func out(k, v string) { fmt.Printf("%s\t%s\n", k, v) }

func errText(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code + " " + pgErr.Message
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return string(pqErr.Code) + " " + pqErr.Message
	}
	return err.Error()
}

func check(k string, fn func() (string, error)) {
	v, err := fn()
	if err != nil {
		v = "ERROR " + errText(err)
	}
	out(k, v)
}

func cell(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(x)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

// pgx rows: the decoded values of every row.
func pgxRows(rows pgx.Rows) (string, error) {
	defer rows.Close()
	var all []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return "", err
		}
		var cells []string
		for _, v := range vals {
			cells = append(cells, cell(v))
		}
		all = append(all, strings.Join(cells, "|"))
	}
	return strings.Join(all, ";"), rows.Err()
}

func pgxQuery(c *pgx.Conn, sql string, args ...interface{}) (string, error) {
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		return "", err
	}
	return pgxRows(rows)
}

func blocked(err error) string {
	if err == nil {
		return "not-blocked"
	}
	return errText(err)
}

// database/sql rows, every column scanned as text.
func sqlRows(rows *sql.Rows, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var all []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]interface{}, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return "", err
		}
		var cells []string
		for _, v := range vals {
			if v.Valid {
				cells = append(cells, v.String)
			} else {
				cells = append(cells, "NULL")
			}
		}
		all = append(all, strings.Join(cells, "|"))
	}
	return strings.Join(all, ";"), rows.Err()
}

// The sidecar's listener as the job dials it, with `extra` key=value settings.
func dsn(port, password, extra string) string {
	return "host=127.0.0.1 port=" + port + " user=job dbname=payments sslmode=disable password=" +
		password + " " + extra
}

func pgxChecks(port, password string) {
	c, err := pgx.Connect(ctx, dsn(port, password, ""))
	if err != nil {
		out("pgx-fatal", errText(err))
		return
	}
	defer c.Close(ctx)
	out("connected", "yes")
	// Default mode: a named prepared statement per query text (Parse, Describe), binary results.
	check("text", func() (string, error) { return pgxQuery(c, SEL, 6) })
	check("pgx-cached", func() (string, error) { return pgxQuery(c, SEL, 6) })
	check("pgx-types", func() (string, error) {
		rows, err := c.Query(ctx, SEL, 6)
		if err != nil {
			return "", err
		}
		defer rows.Close()
		var oids, formats []string
		for _, f := range rows.FieldDescriptions() {
			oids = append(oids, fmt.Sprint(f.DataTypeOID))
			formats = append(formats, fmt.Sprint(f.Format))
		}
		return strings.Join(oids, ",") + " " + strings.Join(formats, ","), nil
	})
	check("pgx-simple", func() (string, error) { return pgxQuery(c, SEL, pgx.QuerySimpleProtocol(true), 6) })
	check("pgx-text-format", func() (string, error) {
		return pgxQuery(c, SEL, pgx.QueryResultFormats{pgx.TextFormatCode}, 6)
	})
	check("pgx-bigint-param", func() (string, error) {
		return pgxQuery(c, "select pan_num, cvv from cards where pan_num = $1", int64(6011111111111117))
	})
	// A masked bigint column is described as text: scanning it into an int64 fails clearly.
	check("pgx-scan-int64", func() (string, error) {
		var n int64
		err := c.QueryRow(ctx, "select pan_num from cards where id = 1").Scan(&n)
		return fmt.Sprint(n), err
	})
	check("pgx-sum", func() (string, error) {
		var n int64
		err := c.QueryRow(ctx, "select sum(id)::bigint from cards where id <= $1", 6).Scan(&n)
		return fmt.Sprint(n), err
	})
	// pgx's Batch describes every statement first: a blocked one fails the whole batch there.
	check("pgx-batch-describe", func() (string, error) { return batchWithDrop(c), nil })
	// pgconn's batch is one pipeline (Parse, Bind, Describe, Execute per statement, one Sync): a
	// statement blocked in the middle fails there and the server skips the rest.
	check("pgx-pipeline", func() (string, error) {
		b := &pgconn.Batch{}
		b.ExecParams(SEL, [][]byte{[]byte("1")}, nil, nil, nil)
		b.ExecParams("drop table cards", nil, nil, nil, nil)
		b.ExecParams(SEL, [][]byte{[]byte("2")}, nil, nil, nil)
		results, err := c.PgConn().ExecBatch(ctx, b).ReadAll()
		var parts []string
		for _, r := range results {
			if r.Err != nil {
				parts = append(parts, errText(r.Err))
				continue
			}
			var rows []string
			for _, row := range r.Rows {
				var cells []string
				for _, v := range row {
					cells = append(cells, cell(v))
				}
				rows = append(rows, strings.Join(cells, "|"))
			}
			parts = append(parts, strings.Join(rows, ";"))
		}
		return strings.Join(parts, "#") + "#" + blocked(err), nil
	})
	check("pgx-after-pipeline", func() (string, error) { return pgxQuery(c, SEL, 2) })
	// Binary COPY: pgx learns the column types from a described SELECT of the table.
	check("pgx-copy", func() (string, error) {
		n, err := c.CopyFrom(ctx, pgx.Identifier{"cards"}, []string{"id", "holder", "pan", "pan_vc", "cvv"},
			pgx.CopyFromRows([][]interface{}{
				{int32(1600), "Go Copy", "4111111111111111", "4111111111111111", "123"},
				{int32(1601), "Go Copy", "5555555555554444", nil, "456"},
			}))
		return fmt.Sprint(n), err
	})
	// A bigint card column is described as text (masking may change its values), so pgx cannot
	// encode an int64 for it: the COPY fails on the client's side and stores nothing.
	check("pgx-copy-bigint", func() (string, error) {
		n, err := c.CopyFrom(ctx, pgx.Identifier{"cards"}, []string{"id", "holder", "pan_num"},
			pgx.CopyFromRows([][]interface{}{{int32(1610), "Go Copy", int64(4111111111111111)}}))
		return fmt.Sprint(n), err
	})
	check("pgx-read-back", func() (string, error) {
		return pgxQuery(c, "select id, pan, pan_vc, cvv from cards where id >= 1600 and id < 1700 order by id")
	})
	check("blocked", func() (string, error) {
		_, err := c.Exec(ctx, "drop table cards")
		return blocked(err), nil
	})
	check("pgx-rolled-back", func() (string, error) {
		tx, err := c.Begin(ctx)
		if err != nil {
			return "", err
		}
		if _, err := tx.Exec(ctx, "select 'in-tx'"); err != nil {
			return "", err
		}
		_, dropErr := tx.Exec(ctx, "alter table cards add column leaked text")
		if err := tx.Rollback(ctx); err != nil {
			return "", err
		}
		return blocked(dropErr) + " " + string(c.PgConn().TxStatus()), nil
	})
	// A query past its context's deadline: pgx sends a CancelRequest and gives up the connection.
	check("pgx-timeout", func() (string, error) {
		tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := c.Exec(tctx, "select pg_sleep(30)")
		return blocked(err), nil
	})
}

// A pgx Batch of a select and a DROP: what its first result reports.
func batchWithDrop(c *pgx.Conn) string {
	b := &pgx.Batch{}
	b.Queue(SEL, 1)
	b.Queue("drop table cards")
	br := c.SendBatch(ctx, b)
	_, err := br.Exec()
	br.Close()
	return blocked(err)
}

func pqChecks(port, password string) {
	db, err := sql.Open("postgres", dsn(port, password, ""))
	if err != nil {
		out("pq-fatal", err.Error())
		return
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	// lib/pq: unnamed statements for queries with parameters, text results.
	check("pq-text", func() (string, error) { return sqlRows(db.Query(SEL, 6)) })
	check("pq-simple", func() (string, error) { return sqlRows(db.Query(strings.Replace(SEL, "$1", "6", 1))) })
	check("pq-prepared", func() (string, error) {
		st, err := db.Prepare(SEL)
		if err != nil {
			return "", err
		}
		defer st.Close()
		a, err := sqlRows(st.Query(6))
		if err != nil {
			return "", err
		}
		b, err := sqlRows(st.Query(6))
		return a + "#" + b, err
	})
	check("pq-blocked", func() (string, error) {
		_, err := db.Exec("drop table cards")
		return blocked(err), nil
	})
	// COPY FROM STDIN through the extended protocol (pq.CopyIn in a transaction).
	check("pq-copy", func() (string, error) {
		tx, err := db.Begin()
		if err != nil {
			return "", err
		}
		st, err := tx.Prepare(pq.CopyIn("cards", "id", "holder", "pan", "pan_vc", "pan_num", "cvv"))
		if err != nil {
			tx.Rollback()
			return "", err
		}
		if _, err := st.Exec(1602, "Go CopyIn", "378282246310005", "378282246310005", 378282246310005, "7890"); err != nil {
			tx.Rollback()
			return "", err
		}
		if _, err := st.Exec(); err != nil {
			tx.Rollback()
			return "", err
		}
		st.Close()
		return "ok", tx.Commit()
	})
	// lib/pq cancels a query whose context ends (and discards that connection).
	check("pq-cancel", func() (string, error) {
		tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := db.ExecContext(tctx, "select pg_sleep(30)")
		return blocked(err), nil
	})
	check("usable", func() (string, error) {
		var s string
		err := db.QueryRow("select 'still-usable'").Scan(&s)
		return s, err
	})
}

// prefer_simple_protocol: pgx interpolates the arguments into simple Query messages, and a
// batch is one Query holding every statement.
func pgxSimpleChecks(port, password string) {
	c, err := pgx.Connect(ctx, dsn(port, password, "prefer_simple_protocol=true"))
	if err != nil {
		out("pgx-simple-fatal", errText(err))
		return
	}
	defer c.Close(ctx)
	check("pgx-simple-conn", func() (string, error) { return pgxQuery(c, SEL, 6) })
	check("pgx-simple-batch", func() (string, error) { return batchWithDrop(c), nil })
	check("pgx-simple-after", func() (string, error) { return pgxQuery(c, SEL, 1) })
}

func main() {
	port, password := os.Args[1], os.Args[2]
	pgxChecks(port, password)
	pgxSimpleChecks(port, password)
	pqChecks(port, password)
	out("done", "yes")
}
)GO";

}  // namespace tollgate::testing
