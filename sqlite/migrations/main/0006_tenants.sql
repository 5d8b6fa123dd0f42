-- Tenants (docs/architecture.md, Tenants). A file of a tenant other than
-- 'default' has the scoped id "tenant#file_id"; the tenant columns of the
-- tables keyed by file id are computed from it, so rows written before
-- tenants belong to 'default' without being rewritten.
ALTER TABLE file_status ADD COLUMN tenant TEXT GENERATED ALWAYS AS
	(CASE WHEN instr(file_id, '#') > 0 THEN substr(file_id, 1, instr(file_id, '#') - 1) ELSE 'default' END) VIRTUAL;
CREATE INDEX file_status_tenant_created ON file_status (tenant, created_at, file_id);

ALTER TABLE api_keys ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE webhooks ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
