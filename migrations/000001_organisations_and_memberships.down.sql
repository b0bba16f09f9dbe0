DROP TABLE memberships;
DROP TABLE organisations;
