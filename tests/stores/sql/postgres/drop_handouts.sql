drop table if exists handouts
