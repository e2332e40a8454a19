package dev.ferrotun

import java.net.InetAddress

/** Builds IPv4/UDP packets with correct header and UDP checksums. */
object Packets {
    fun udp4(src: String, dst: String, srcPort: Int, dstPort: Int, payload: ByteArray, id: Int = 0): ByteArray {
        val s = InetAddress.getByName(src).address
        val d = InetAddress.getByName(dst).address
        require(s.size == 4 && d.size == 4)
        val udpLen = 8 + payload.size
        val total = 20 + udpLen
        val p = ByteArray(total)
        p[0] = 0x45 // version 4, IHL 5
        put16(p, 2, total)
        put16(p, 4, id and 0xffff)
        put16(p, 6, 0x4000) // don't fragment
        p[8] = 64 // TTL
        p[9] = 17 // UDP
        s.copyInto(p, 12)
        d.copyInto(p, 16)
        put16(p, 10, checksum(p, 0, 20, 0))

        put16(p, 20, srcPort)
        put16(p, 22, dstPort)
        put16(p, 24, udpLen)
        payload.copyInto(p, 28)
        var pseudo = 0L
        for (i in 0 until 4 step 2) {
            pseudo += get16(s, i) + get16(d, i)
        }
        pseudo += 17 + udpLen
        var sum = checksum(p, 20, udpLen, pseudo)
        if (sum == 0) sum = 0xffff // 0 means "no checksum" in UDP over IPv4
        put16(p, 26, sum)
        return p
    }

    /** True when the IPv4 header checksum and the UDP checksum verify. */
    fun checksumsValid(p: ByteArray): Boolean {
        if (checksum(p, 0, 20, 0) != 0) return false
        val udpLen = get16(p, 24)
        var pseudo = 0L
        for (i in 12 until 20 step 2) pseudo += get16(p, i)
        pseudo += 17 + udpLen
        return checksum(p, 20, udpLen, pseudo) == 0
    }

    fun payload(p: ByteArray): ByteArray = p.copyOfRange(28, p.size)

    private fun checksum(b: ByteArray, off: Int, len: Int, initial: Long): Int {
        var sum = initial
        var i = 0
        while (i + 1 < len) {
            sum += get16(b, off + i)
            i += 2
        }
        if (len % 2 == 1) sum += (b[off + len - 1].toInt() and 0xff) shl 8
        while (sum shr 16 != 0L) sum = (sum and 0xffff) + (sum shr 16)
        return (sum.inv() and 0xffff).toInt()
    }

    private fun get16(b: ByteArray, off: Int): Int = ((b[off].toInt() and 0xff) shl 8) or (b[off + 1].toInt() and 0xff)

    private fun put16(b: ByteArray, off: Int, v: Int) {
        b[off] = (v shr 8).toByte()
        b[off + 1] = v.toByte()
    }
}
