SELECT 1; DROP TABLE x; -- c
/* n /* e */ */ BEGIN; COMMIT