module github.com/capfd/capfd

go 1.26
