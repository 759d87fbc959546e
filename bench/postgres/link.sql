-- The analyst's alternative to tfmatch: load the four agencies' extracts,
-- normalise names, dates of birth and postcodes in SQL, pseudonymise four
-- match keys per record with pgcrypto's hmac() (SHA-256, one key per kind)
-- and link the agencies by joining on equal tokens. run.sh times it.
-- psql variable: load, a file of \copy commands loading the four CSV files.
\set ON_ERROR_STOP on
\timing on
create extension if not exists pgcrypto;

create unlogged table council_raw (person_id text, title text, forename text, middle_names text, surname text,
  date_of_birth text, gender text, nhs_number text, address_line_1 text, address_line_2 text, address_line_3 text,
  town text, postcode text, uprn text, family_ref text, cin_status text, domestic_abuse_flag text,
  cause_for_concern text, housing_asb_eviction_date text);
create unlogged table dwp_raw (claim_ref text, nino text, surname text, forename text, dob text, addr1 text,
  addr2 text, addr3 text, addr4 text, postcode text, benefit text, claim_start text, claim_end text,
  claim_role text, benefit_unit text);
create unlogged table education_raw (pupil_id text, upn text, legal_surname text, legal_forename text,
  legal_middle_names text, preferred_surname text, dob text, sex text, address_line_1 text, address_line_2 text,
  address_line_3 text, address_line_4 text, postcode text, la_estab text, enrolment_status text, on_roll text,
  unauthorised_absence_pct text, fixed_term_exclusions text, permanently_excluded text);
create unlogged table police_raw (nominal_id text, surname text, first_name text, sex text, dob text,
  address text, postcode text, offence_date text, outcome text, asb_intervention text, asb_date text);

-- run.sh writes the \copy commands (psql does not expand variables in them).
\i :load

-- Names: upper case, letters only. Postcodes: upper case, no spaces.
create function norm_name(s text) returns text immutable language sql
  as $$ select regexp_replace(upper(coalesce(s, '')), '[^A-Z]', '', 'g') $$;
create function norm_postcode(s text) returns text immutable language sql
  as $$ select regexp_replace(upper(coalesce(s, '')), '[^A-Z0-9]', '', 'g') $$;
-- A date in the agency's format, or null when it is not one.
create function norm_date(s text, fmt text) returns date immutable language plpgsql as $$
begin
  return to_date(s, fmt);
exception when others then
  return null;
end $$;

create unlogged table person as
  select 'council'::text src, person_id id, norm_name(forename) given, norm_name(surname) family,
         norm_date(date_of_birth, 'DD/MM/YYYY') dob, norm_postcode(postcode) pc from council_raw
  union all
  select 'dwp', claim_ref, norm_name(forename), norm_name(surname), norm_date(dob, 'DD-MON-YYYY'), norm_postcode(postcode) from dwp_raw
  union all
  select 'education', pupil_id, norm_name(legal_forename), norm_name(legal_surname), norm_date(dob, 'YYYY-MM-DD'), norm_postcode(postcode) from education_raw
  union all
  select 'police', nominal_id, norm_name(first_name), norm_name(surname), norm_date(dob, 'YYYYMMDD'), norm_postcode(postcode) from police_raw;

-- Four match keys per record, each HMAC-SHA256 under its own key:
-- name + date of birth; initial + surname + date of birth + postcode;
-- names swapped + date of birth; name + year of birth + postcode.
create unlogged table token as
  select src, id, 1 kind, hmac(given || '|' || family || '|' || dob, 'tfmatch-bench/name-dob', 'sha256') tok
    from person where given <> '' and family <> '' and dob is not null
  union all
  select src, id, 2, hmac(left(given, 1) || '|' || family || '|' || dob || '|' || pc, 'tfmatch-bench/initial-dob-postcode', 'sha256')
    from person where given <> '' and family <> '' and dob is not null and pc <> ''
  union all
  select src, id, 3, hmac(family || '|' || given || '|' || dob, 'tfmatch-bench/swapped-dob', 'sha256')
    from person where given <> '' and family <> '' and dob is not null
  union all
  select src, id, 4, hmac(given || '|' || family || '|' || extract(year from dob) || '|' || pc, 'tfmatch-bench/name-yob-postcode', 'sha256')
    from person where given <> '' and family <> '' and dob is not null and pc <> '';
analyze token;

-- Link: record pairs of different agencies sharing any token.
create unlogged table pair as
  select distinct a.src src_a, a.id id_a, b.src src_b, b.id id_b
    from token a join token b on a.kind = b.kind and a.tok = b.tok and a.src < b.src;

\timing off
select (select count(*) from person) records, (select count(*) from token) tokens, (select count(*) from pair) linked_pairs;
