" khc syntax (the statement list mirrors SPEC.md, like the VS Code grammar).
if exists('b:current_syntax')
  finish
endif
syntax iskeyword @,48-57,_,-,.
syntax keyword khcDeclaration cluster tenant profile workload role
syntax keyword khcStatement admission admission-mode allow allowed-capabilities allowed-host-paths allowed-image-volumes
      \ allowed-priority-classes allowed-registries allowed-runtime-classes allowed-selinux-types
      \ allowed-service-types allowed-storage-classes allowed-sysctls allowed-volume-types anonymous
      \ api-server api-share apparmor-runtime-default audience audit authentication automount-token
      \ budget can cel cni configmaps cpu default deletable-namespaces dns drop-all-capabilities
      \ encryption endpoint enforce ephemeral-storage exception exempt-namespaces
      \ exempt-runtime-classes exempt-usernames expires grant groups-claim groups-prefix images
      \ import isolation key kinds kubelet-certificate-authority kubernetes lifts limit-cpu
      \ limit-memory limits load-balancers log-path managed-by max max-age max-backups max-size
      \ memory message min min-fs-group min-gid min-uid mode name namespace namespaces
      \ network-policies no-default-service-account no-docker-socket no-external-ips
      \ no-host-namespaces no-host-path no-host-ports no-host-probes no-host-process no-latest-tag
      \ no-privilege-escalation no-privileged no-root-groups no-secret-env no-selinux-overrides
      \ no-unmasked-proc-mount no-workloads-in-default node-ports nodes oidc pinned pod-cidr
      \ pod-security pods port provider pvcs quota quota-scale read-only-root-fs reason registries
      \ request require-digest require-fs-group require-limits require-requests
      \ require-user-namespaces resources rule run-as-group run-as-non-root scanned-by
      \ seccomp-runtime-default secrets selector service-cidr services share signed-by storage
      \ timeout toleration use username-claim username-prefix version volume-images warn workloads
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
