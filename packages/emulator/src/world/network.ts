/**
 * The world's network: a VPC with two private subnets in two zones (or a shared world's), and the tasks' security
 * group.
 */
import { AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, type EC2Client } from "@aws-sdk/client-ec2";
import { required, step } from "./errors.js";
import type { World, WorldSubnet } from "./types.js";

/** @internal */
export const vpcCidr = "10.0.0.0/16";
const subnetLayout = [
  { zoneLetter: "a", cidrBlock: "10.0.1.0/24" },
  { zoneLetter: "b", cidrBlock: "10.0.2.0/24" },
] as const;

/** What {@link provisionNetwork} gives the rest of the world. @internal */
export interface WorldNetwork {
  readonly vpcId: string;
  readonly subnets: readonly WorldSubnet[];
  readonly securityGroupId: string;
}

/**
 * Creates the VPC and its subnets, or reuses those of `shared`, then a security group of this service's own that
 * opens its port to the VPC.
 *
 * @internal
 */
export async function provisionNetwork(
  ec2: EC2Client,
  params: { region: string; service: string; suffix: string; port: number; shared: World | undefined },
): Promise<WorldNetwork> {
  const { vpcId, subnets } =
    params.shared === undefined ? await createVpc(ec2, params.region) : { vpcId: params.shared.vpcId, subnets: params.shared.subnets };
  const securityGroupId = await createTaskSecurityGroup(ec2, { vpcId, service: params.service, suffix: params.suffix, port: params.port });
  return { vpcId, subnets, securityGroupId };
}

async function createVpc(ec2: EC2Client, region: string): Promise<{ vpcId: string; subnets: readonly WorldSubnet[] }> {
  const vpc = await step("CreateVpc", { cidr: vpcCidr }, () => ec2.send(new CreateVpcCommand({ CidrBlock: vpcCidr })));
  const vpcId = required(vpc.Vpc?.VpcId, "Vpc.VpcId", "CreateVpc");
  const subnets: WorldSubnet[] = [];
  for (const layout of subnetLayout) {
    const availabilityZone = `${region}${layout.zoneLetter}`;
    const subnet = await step("CreateSubnet", { vpcId, availabilityZone }, () =>
      ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: layout.cidrBlock, AvailabilityZone: availabilityZone })),
    );
    subnets.push({
      subnetId: required(subnet.Subnet?.SubnetId, "Subnet.SubnetId", "CreateSubnet"),
      availabilityZone,
      cidrBlock: layout.cidrBlock,
    });
  }
  return { vpcId, subnets };
}

async function createTaskSecurityGroup(
  ec2: EC2Client,
  params: { vpcId: string; service: string; suffix: string; port: number },
): Promise<string> {
  const { vpcId, service, suffix, port } = params;
  const securityGroup = await step("CreateSecurityGroup", { vpcId, service }, () =>
    ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: `${service}${suffix}-tasks`,
        Description: `gRPC tasks of ${service}`,
        VpcId: vpcId,
      }),
    ),
  );
  const securityGroupId = required(securityGroup.GroupId, "GroupId", "CreateSecurityGroup");
  await step("AuthorizeSecurityGroupIngress", { securityGroupId, port }, () =>
    ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: securityGroupId,
        IpPermissions: [
          { IpProtocol: "tcp", FromPort: port, ToPort: port, IpRanges: [{ CidrIp: vpcCidr, Description: "gRPC from the VPC" }] },
        ],
      }),
    ),
  );
  return securityGroupId;
}
