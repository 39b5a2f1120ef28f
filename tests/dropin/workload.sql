-- workload.sql - an SQL workload for check_preload.sh (sqlite3 DB < workload.sql).
-- Tables, inserts in transactions (recursive CTEs generate the rows),
-- indexes, updates, deletes, joins, window functions, JSON, vacuum and
-- aggregates; every query orders its rows, so the output is deterministic.
PRAGMA journal_mode = WAL;
PRAGMA cache_size = -4000;

CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT, note TEXT);
CREATE TABLE item (id INTEGER PRIMARY KEY, title TEXT NOT NULL, price REAL, blob BLOB);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER REFERENCES customer(id),
                     item INTEGER REFERENCES item(id), qty INTEGER, day TEXT, meta TEXT);

BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO customer SELECT i, 'customer-' || i || '-' || substr(hex(i * 7919), 1, 6),
       CASE i % 7 WHEN 0 THEN 'Oslo' WHEN 1 THEN 'Lima' WHEN 2 THEN 'Pune' WHEN 3 THEN 'Kyiv'
                  WHEN 4 THEN 'Graz' WHEN 5 THEN 'Cork' ELSE 'Bern' END,
       printf('%.*c', i % 200, 'x') FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
INSERT INTO item SELECT i, 'item ' || i || ' ' || upper(hex(i)), (i * 37 % 1000) / 10.0,
       zeroblob(i % 3000) FROM n;
COMMIT;

BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60000)
INSERT INTO orders SELECT i, (i * 7919) % 5000 + 1, (i * 104729) % 2000 + 1, i % 9 + 1,
       date('2024-01-01', '+' || (i % 366) || ' days'),
       json_object('src', 'web', 'n', i, 'tags', json_array(i % 3, i % 5, 'k' || (i % 11)))
       FROM n;
COMMIT;

CREATE INDEX orders_customer ON orders(customer);
CREATE INDEX orders_item_day ON orders(item, day);
CREATE INDEX customer_city ON customer(city, name);

BEGIN;
UPDATE item SET price = price * 1.1 WHERE id % 3 = 0;
UPDATE customer SET note = note || ' updated ' || city WHERE id % 11 = 0;
UPDATE orders SET qty = qty + 1, meta = json_set(meta, '$.upd', 1) WHERE day LIKE '2024-03-%';
DELETE FROM orders WHERE id % 13 = 0;
DELETE FROM customer WHERE id % 97 = 0 AND id NOT IN (SELECT customer FROM orders);
COMMIT;

SELECT 'counts', (SELECT count(*) FROM customer), (SELECT count(*) FROM item), (SELECT count(*) FROM orders);
SELECT city, count(*), round(sum(o.qty * i.price), 2)
  FROM orders o JOIN customer c ON c.id = o.customer JOIN item i ON i.id = o.item
  GROUP BY city ORDER BY city;
SELECT substr(day, 1, 7) AS month, count(*), sum(qty), round(avg(qty), 4)
  FROM orders GROUP BY month ORDER BY month;
SELECT name, total FROM (
  SELECT c.name, sum(o.qty) AS total, rank() OVER (ORDER BY sum(o.qty) DESC, c.name) AS r
    FROM customer c JOIN orders o ON o.customer = c.id GROUP BY c.id)
  WHERE r <= 10 ORDER BY r;
SELECT json_extract(meta, '$.tags[2]') AS t, count(*), sum(json_extract(meta, '$.upd') IS NOT NULL)
  FROM orders GROUP BY t ORDER BY t;
SELECT group_concat(title, '|') FROM (SELECT title FROM item WHERE price > 99 ORDER BY title LIMIT 20);
SELECT length(group_concat(note, '')), sum(length(note)) FROM customer;
SELECT sum(length(blob)), max(length(blob)) FROM item;

-- rebuild: big temporary sort, drop, vacuum
CREATE TABLE orders_copy AS SELECT * FROM orders ORDER BY meta DESC, id;
SELECT count(*), min(id), max(id) FROM orders_copy;
DROP TABLE orders_copy;
DELETE FROM orders WHERE id % 2 = 0;
VACUUM;
PRAGMA integrity_check;
SELECT 'after vacuum', count(*), sum(qty) FROM orders;
SELECT c.city, count(DISTINCT o.item) FROM orders o JOIN customer c ON c.id = o.customer
  GROUP BY c.city ORDER BY c.city;
