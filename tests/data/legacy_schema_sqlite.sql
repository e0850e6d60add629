-- Schema as created by monitor.migrate's create_all (commit 10d6238) on sqlite,
-- before Alembic: used to test that such databases are adopted and upgraded.
CREATE TABLE page (
	id VARCHAR(100) NOT NULL, 
	company VARCHAR NOT NULL, 
	url TEXT NOT NULL, 
	etag VARCHAR, 
	last_modified VARCHAR, 
	last_checked_at DATETIME, 
	last_status VARCHAR, 
	last_error TEXT, 
	last_change_at DATETIME, 
	failures INTEGER NOT NULL, 
	gone BOOLEAN NOT NULL, 
	pending_hash VARCHAR, 
	claimed_by VARCHAR, 
	claim_expires DATETIME, 
	PRIMARY KEY (id)
);

CREATE TABLE raw_body (
	hash VARCHAR(64) NOT NULL, 
	content_type VARCHAR NOT NULL, 
	size INTEGER NOT NULL, 
	data BLOB NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (hash)
);

CREATE TABLE snapshot (
	id INTEGER NOT NULL, 
	page_id VARCHAR(100) NOT NULL, 
	created_at DATETIME NOT NULL, 
	text_hash VARCHAR(64) NOT NULL, 
	text TEXT NOT NULL, 
	raw_hash VARCHAR(64), 
	extract_sig VARCHAR(64) NOT NULL, 
	origin VARCHAR(16) NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(page_id) REFERENCES page (id), 
	FOREIGN KEY(raw_hash) REFERENCES raw_body (hash)
);

CREATE INDEX ix_snapshot_page_id_id ON snapshot (page_id, id);

CREATE TABLE "check" (
	id INTEGER NOT NULL, 
	page_id VARCHAR(100) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	status VARCHAR(20) NOT NULL, 
	http_status INTEGER, 
	error TEXT, 
	duration_ms INTEGER NOT NULL, 
	snapshot_id INTEGER, 
	worker VARCHAR, 
	PRIMARY KEY (id), 
	FOREIGN KEY(page_id) REFERENCES page (id), 
	FOREIGN KEY(snapshot_id) REFERENCES snapshot (id)
);

CREATE INDEX ix_check_page_id_id ON "check" (page_id, id);

CREATE TABLE change (
	id INTEGER NOT NULL, 
	page_id VARCHAR(100) NOT NULL, 
	snapshot_id INTEGER NOT NULL, 
	previous_snapshot_id INTEGER, 
	detected_at DATETIME NOT NULL, 
	added INTEGER NOT NULL, 
	removed INTEGER NOT NULL, 
	first_line TEXT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(page_id) REFERENCES page (id), 
	UNIQUE (snapshot_id), 
	FOREIGN KEY(snapshot_id) REFERENCES snapshot (id), 
	FOREIGN KEY(previous_snapshot_id) REFERENCES snapshot (id)
);

CREATE INDEX ix_change_page_id ON change (page_id);

CREATE TABLE event (
	id INTEGER NOT NULL, 
	page_id VARCHAR(100) NOT NULL, 
	change_id INTEGER, 
	company VARCHAR NOT NULL, 
	url TEXT NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	jurisdiction VARCHAR(8), 
	quote TEXT, 
	evidence VARCHAR, 
	rule VARCHAR, 
	detected_at DATETIME NOT NULL, 
	snapshot_id INTEGER, 
	previous_snapshot_id INTEGER, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_event_change_kind_jurisdiction UNIQUE (change_id, kind, jurisdiction), 
	FOREIGN KEY(page_id) REFERENCES page (id), 
	FOREIGN KEY(change_id) REFERENCES change (id), 
	FOREIGN KEY(snapshot_id) REFERENCES snapshot (id), 
	FOREIGN KEY(previous_snapshot_id) REFERENCES snapshot (id)
);

CREATE INDEX ix_event_change_id ON event (change_id);

CREATE INDEX ix_event_kind ON event (kind);

CREATE INDEX ix_event_detected_at ON event (detected_at);

CREATE INDEX ix_event_page_id ON event (page_id);

CREATE TABLE delivery (
	id INTEGER NOT NULL, 
	event_id INTEGER NOT NULL, 
	sink VARCHAR(100) NOT NULL, 
	status VARCHAR(10) NOT NULL, 
	attempts INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	last_error TEXT, 
	claimed_by VARCHAR, 
	claim_expires DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_delivery_event_sink UNIQUE (event_id, sink), 
	FOREIGN KEY(event_id) REFERENCES event (id)
);

CREATE INDEX ix_delivery_status_next ON delivery (status, next_attempt_at);
