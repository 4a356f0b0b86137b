WITH s AS (SELECT cvv AS k FROM cards) INSERT INTO log (msg) SELECT k FROM s;
UPDATE cards SET (note, holder) = (SELECT cvv, holder FROM cards WHERE id = 2);
INSERT INTO t (id, cvv) VALUES (1, '1') ON CONFLICT (id) DO UPDATE SET note = excluded.cvv;
MERGE INTO t USING cards c ON t.id = c.id WHEN MATCHED THEN UPDATE SET note = c.cvv WHEN NOT MATCHED THEN INSERT (id, note) VALUES (c.id, c.cvv);
CREATE TABLE leak (a, b) AS SELECT id, cvv FROM cards;
SELECT cvv::text, (c).cvv, c.* INTO leak FROM cards c;
EXPLAIN (ANALYZE) INSERT INTO archive SELECT * FROM cards;
