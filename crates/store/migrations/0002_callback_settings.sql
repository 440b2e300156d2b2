-- keyward-store schema, version 2: per-site callback tuning (JSON object of
-- CallbackSettings; '{}' means every default).
ALTER TABLE sites ADD COLUMN callback_settings TEXT NOT NULL DEFAULT '{}';
