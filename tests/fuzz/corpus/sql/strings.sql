SELECT 'a'
'b', $tag$ $$ $tag$, "q""i" FROM s.t FOR UPDATE