module github.com/txpipe/txpipe

go 1.26.8

ignore ./node_modules
