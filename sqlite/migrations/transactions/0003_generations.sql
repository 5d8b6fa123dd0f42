-- Generations of ingest (docs/sqlite-writes.md, "Generations"). A row
-- belongs to the generation of the batch that inserted it: the largest seq
-- of the shard before that batch, shifted right by genBits, so a generation
-- is about half a million rows of one shard, inserted one after another.
-- The two indexes lead with the generation: a batch only inserts into the
-- newest generation's part of each, which stays in the writer's page cache
-- however many rows are stored. The unique index holds an id hash once per
-- generation; PutTransactions finds hashes of older generations through an
-- in-memory filter of each (gens.go) and a lookup in the generations it
-- names, so an id is still stored once. Rows stored before this migration
-- are generation 0.
ALTER TABLE transactions ADD COLUMN gen INTEGER DEFAULT 0;
DROP INDEX transactions_id_hash;
DROP INDEX transactions_ts;
CREATE UNIQUE INDEX transactions_gen_id ON transactions (gen, id_hash);
CREATE INDEX transactions_gen_ts ON transactions (gen, ts, ts_ns);
