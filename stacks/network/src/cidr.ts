// IPv4 CIDR arithmetic for carving subnets out of the VPC range.

function toInt(ip: string): number {
    const parts = ip.split(".").map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
        throw new Error(`invalid IPv4 address '${ip}'`);
    }
    return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

function toIp(n: number): string {
    return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

/** The `index`-th subnet of `cidr` that is `newBits` bits longer, like Terraform's cidrsubnet(). */
export function cidrSubnet(cidr: string, newBits: number, index: number): string {
    const [ip, lenText] = cidr.split("/");
    const len = Number(lenText);
    const newLen = len + newBits;
    if (!Number.isInteger(len) || newLen > 32 || index < 0 || index >= 2 ** newBits) {
        throw new Error(`cannot take subnet ${index} of /${newLen} from ${cidr}`);
    }
    const base = toInt(ip) & (len === 0 ? 0 : (~0 << (32 - len)) >>> 0);
    return `${toIp((base + index * 2 ** (32 - newLen)) >>> 0)}/${newLen}`;
}
