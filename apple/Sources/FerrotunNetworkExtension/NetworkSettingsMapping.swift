import FerrotunAdapterCore
import Foundation
import NetworkExtension

/// Turns a `NetworkSettingsPlan` (decided in FerrotunAdapterCore from the
/// core's interface settings) into NE objects, field for field.
public enum NetworkSettingsMapping {
    public static func settings(for plan: NetworkSettingsPlan) -> NEPacketTunnelNetworkSettings {
        let settings = NEPacketTunnelNetworkSettings(tunnelRemoteAddress: plan.tunnelRemoteAddress)
        if let v4 = plan.ipv4 {
            let ipv4 = NEIPv4Settings(addresses: v4.addresses, subnetMasks: v4.subnetMasks)
            ipv4.includedRoutes = v4.includedRoutes.map {
                NEIPv4Route(destinationAddress: $0.destination, subnetMask: $0.subnetMask)
            }
            settings.ipv4Settings = ipv4
        }
        if let v6 = plan.ipv6 {
            let ipv6 = NEIPv6Settings(
                addresses: v6.addresses,
                networkPrefixLengths: v6.prefixLengths.map { NSNumber(value: $0) }
            )
            ipv6.includedRoutes = v6.includedRoutes.map {
                NEIPv6Route(destinationAddress: $0.destination, networkPrefixLength: NSNumber(value: $0.prefixLength))
            }
            settings.ipv6Settings = ipv6
        }
        if let dns = plan.dns {
            let dnsSettings = NEDNSSettings(servers: dns.servers)
            dnsSettings.searchDomains = dns.searchDomains
            dnsSettings.matchDomains = dns.matchDomains
            settings.dnsSettings = dnsSettings
        }
        settings.mtu = NSNumber(value: plan.mtu)
        return settings
    }
}
