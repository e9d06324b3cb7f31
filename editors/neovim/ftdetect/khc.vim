" khc source files.
autocmd BufRead,BufNewFile *.khc setfiletype khc
