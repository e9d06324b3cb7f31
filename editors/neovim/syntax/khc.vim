" khc syntax (the statement list mirrors SPEC.md, like the VS Code grammar).
if exists('b:current_syntax')
  finish
endif
syntax iskeyword @,48-57,_,-,.
syntax keyword khcDeclaration cluster tenant profile workload role
syntax keyword khcStatement import kubernetes exempt-namespaces api-server encryption admission grant
      \ namespaces pod-security isolation allow quota limits enforce audit warn version resources
      \ provider name endpoint timeout key use mode require-limits require-requests no-latest-tag
      \ allowed-registries read-only-root-fs seccomp-runtime-default no-host-namespaces no-host-ports
      \ no-host-path no-docker-socket no-privileged no-privilege-escalation allowed-capabilities
      \ run-as-non-root min-uid can cpu memory limit-cpu limit-memory pods services secrets configmaps
      \ pvcs storage ephemeral-storage load-balancers node-ports default request max min namespace
      \ selector automount-token drop-all-capabilities apparmor-runtime-default allowed-sysctls
      \ no-unmasked-proc-mount allowed-selinux-types no-selinux-overrides no-host-process no-host-probes
      \ allowed-volume-types allowed-host-paths run-as-group min-gid require-fs-group min-fs-group
      \ no-root-groups no-external-ips allowed-service-types no-default-service-account
      \ allowed-runtime-classes allowed-storage-classes nodes toleration network-policies pod-cidr
      \ service-cidr
syntax keyword khcKeyword ingress egress from to ports protocol except on names cidr env file user group serviceaccount readonly
syntax keyword khcBoolean true false
syntax match khcNumber "\<\d\+\(\.\d\+\)\?[A-Za-z]*\>"
syntax match khcRange "\<\d\+-\d\+\>"
syntax match khcAddress "\<\d\{1,3}\(\.\d\{1,3}\)\{3}\(/\d\{1,2}\)\?"
syntax match khcWildcard "\*"
syntax match khcEscape contained "\\[\"\\nt]"
syntax region khcString start=+"+ skip=+\\\\\|\\"+ end=+"\|$+ oneline contains=khcEscape
syntax match khcComment "#.*$"
highlight default link khcDeclaration Structure
highlight default link khcStatement Keyword
highlight default link khcKeyword Statement
highlight default link khcBoolean Boolean
highlight default link khcNumber Number
highlight default link khcRange Number
highlight default link khcAddress Constant
highlight default link khcWildcard Operator
highlight default link khcEscape SpecialChar
highlight default link khcString String
highlight default link khcComment Comment
let b:current_syntax = 'khc'
