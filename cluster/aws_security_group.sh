#!/usr/bin/env bash
# Create (or repair) the EC2 security group that cluster/aws.yaml's nodes use, BEFORE
# `ray up`. Rules: SSH (tcp 22) from the CIDR(s) in the config's
# provider.security_group.IpPermissions only, and all traffic between members of the group
# (the cluster's own nodes). Nothing else is reachable from outside.
#
#   cluster/aws_security_group.sh [cluster/aws.yaml]
#   SNNJOB_AWS_DRY_RUN=1 cluster/aws_security_group.sh     # print the aws commands only
#
# Why: when `ray up` creates the group itself it always adds SSH from 0.0.0.0/0; it leaves
# an existing group that already has rules alone. Running this again is safe: it adds
# missing rules and revokes SSH from 0.0.0.0/0 or ::/0 (e.g. left by an earlier `ray up`).
# Needs the AWS CLI (v2) with credentials, and python3 with PyYAML (the project venv).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CFG="${1:-$ROOT/cluster/aws.yaml}"
PY="${SNNJOB_PYTHON_FOR_TOOLS:-}"
if [ -z "$PY" ]; then
  if [ -x "${SNNJOB_VENV:-$ROOT/.venv}/bin/python" ]; then PY="${SNNJOB_VENV:-$ROOT/.venv}/bin/python"; else PY=python3; fi
fi

# region, group name, subnet (or "-"), then one SSH CIDR per line; refuses world-open SSH.
mapfile -t conf < <("$PY" - "$CFG" <<'PYEOF'
import ipaddress, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
prov = cfg["provider"]
sg = prov.get("security_group") or {}
name = sg.get("GroupName")
if not name:
    sys.exit("provider.security_group.GroupName is not set")
subnets = [s for nt in cfg.get("available_node_types", {}).values()
           for s in (nt.get("node_config", {}).get("SubnetIds") or [])]
cidrs = []
for perm in sg.get("IpPermissions") or []:
    if (perm.get("IpProtocol"), perm.get("FromPort"), perm.get("ToPort")) != ("tcp", 22, 22):
        sys.exit(f"only SSH (tcp 22) may be opened, not {perm}")
    for r in perm.get("IpRanges") or []:
        net = ipaddress.ip_network(r["CidrIp"], strict=False)
        if net.prefixlen == 0:
            sys.exit("SSH from 0.0.0.0/0 refused: set SSH_CIDR (CidrIp) in " + sys.argv[1])
        cidrs.append(str(net))
if not cidrs:
    sys.exit("no SSH CidrIp in provider.security_group.IpPermissions")
print(prov["region"]); print(name); print(subnets[0] if subnets else "-")
print("\n".join(cidrs))
PYEOF
)
[ "${#conf[@]}" -ge 4 ] || { echo "aws_security_group: could not read $CFG" >&2; exit 1; }
REGION="${conf[0]}" GROUP="${conf[1]}" SUBNET="${conf[2]}"
CIDRS=("${conf[@]:3}")

# In a dry run every aws command is printed (to stderr) instead of run; queries whose answer
# later steps need return a placeholder.
run() {
  if [ "${SNNJOB_AWS_DRY_RUN:-0}" = "1" ]; then echo "aws $*" >&2; return 0; fi
  aws "$@"
}
q() {
  local placeholder="$1"; shift
  if [ "${SNNJOB_AWS_DRY_RUN:-0}" = "1" ]; then echo "aws $*" >&2; echo "$placeholder"; return 0; fi
  aws "$@"
}

if [ "$SUBNET" != "-" ]; then
  VPC="$(q vpc-DRYRUN ec2 describe-subnets --region "$REGION" --subnet-ids "$SUBNET" \
        --query 'Subnets[0].VpcId' --output text)"
else
  VPC="$(q vpc-DRYRUN ec2 describe-vpcs --region "$REGION" --filters Name=isDefault,Values=true \
        --query 'Vpcs[0].VpcId' --output text)"
fi
SG="$(q None ec2 describe-security-groups --region "$REGION" \
      --filters "Name=vpc-id,Values=$VPC" "Name=group-name,Values=$GROUP" \
      --query 'SecurityGroups[0].GroupId' --output text)"
if [ "$SG" = "None" ] || [ -z "$SG" ]; then
  SG="$(q sg-DRYRUN ec2 create-security-group --region "$REGION" --vpc-id "$VPC" \
        --group-name "$GROUP" --description "snnjob Ray cluster: SSH from SSH_CIDR only" \
        --query GroupId --output text)"
  echo "aws_security_group: created $GROUP ($SG) in $VPC" >&2
fi

# Each rule once: "already exists" (InvalidPermission.Duplicate) and "not found" on revoke
# are expected on a second run and only printed.
add() { run ec2 authorize-security-group-ingress --region "$REGION" --group-id "$SG" "$@" || true; }
for cidr in "${CIDRS[@]}"; do
  add --protocol tcp --port 22 --cidr "$cidr"
done
add --protocol -1 --source-group "$SG"
# World-open SSH (Ray's default) goes.
run ec2 revoke-security-group-ingress --region "$REGION" --group-id "$SG" \
    --protocol tcp --port 22 --cidr 0.0.0.0/0 || true
run ec2 revoke-security-group-ingress --region "$REGION" --group-id "$SG" \
    --ip-permissions 'IpProtocol=tcp,FromPort=22,ToPort=22,Ipv6Ranges=[{CidrIpv6=::/0}]' || true
echo "aws_security_group: $GROUP ($SG): SSH from ${CIDRS[*]} and intra-cluster traffic only" >&2
