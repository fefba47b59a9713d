// Interop driver: ethereumjs's devp2p against a devp2p-peer node on 127.0.0.1 (see run.sh).
//   node interop.mjs dial <enode>   -> dials, eth/68 STATUS handshake, 3 eth messages, disconnect
//   node interop.mjs listen <port>  -> listens with eth/68 for 10 s, prints what happens
//   node interop.mjs status <enode> -> dials, eth/68 STATUS handshake (ethereumjs checks ours),
//                                      then disconnects with "client quitting"
import { RLPx, ETH } from '@ethereumjs/devp2p'
import { Common, Mainnet } from '@ethereumjs/common'
import { hexToBytes, bytesToHex, intToBytes } from '@ethereumjs/util'
import { RLP } from '@ethereumjs/rlp'
import { randomBytes } from 'crypto'

const common = new Common({ chain: Mainnet })
const rlpx = new RLPx(randomBytes(32), { maxPeers: 5, capabilities: [ETH.eth68], common, listenPort: null })
const genesis = hexToBytes('0xd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3')
const [mode, arg] = process.argv.slice(2)
const fail = (m) => { console.log('FAIL ' + m); process.exit(1) }
setTimeout(() => fail('timeout'), 15000).unref?.()

rlpx.events.on('peer:error', (peer, err) => console.log('peer error: ' + err.message))
rlpx.events.on('peer:removed', (peer, reason, disconnectWe) => {
  console.log(`removed: reason ${peer.getDisconnectPrefix(reason)} (${disconnectWe ? 'by us' : 'by remote'})`)
  if (mode === 'dial') process.exit(sawAll ? 0 : 1)
  if (mode === 'status') process.exit(sawStatus ? 0 : 1)
})
let sawAll = false
let sawStatus = false
rlpx.events.on('peer:added', (peer) => {
  const hello = peer.getHelloMessage()
  console.log(`hello: client=${hello.clientId} version=${hello.protocolVersion} caps=${hello.capabilities.map(c => c.name + '/' + c.version).join(',')}`)
  const eth = peer.getProtocols()[0]
  if (!eth) return
  eth.events.once('status', (s) => {
    console.log(`eth status ok: chainId=${bytesToHex(s.chainId)} genesis=${bytesToHex(s.genesisHash).slice(0, 18)}... forkId=${bytesToHex(s.forkId[0])}/${bytesToHex(s.forkId[1])}`)
    if (mode === 'status') { sawStatus = true; peer.disconnect(0x08); return }
    if (mode !== 'dial') return // listen: wait for the remote to leave
    const sent = []
    for (let i = 0; i < 3; i++) {
      const payload = [[randomBytes(32), intToBytes(1000 + i)]]
      sent.push(bytesToHex(RLP.encode(payload)))
      eth.sendMessage(0x01, payload) // NewBlockHashes
    }
    let got = 0
    eth.events.on('message', (code, payload) => {
      if (code === 0x00) return // the echoed STATUS
      const hex = bytesToHex(RLP.encode(payload))
      if (code !== 0x01 || hex !== sent[got]) fail(`echo ${got}: code ${code} payload ${hex}`)
      got++
      console.log(`echo ${got}/3 ok (code ${code}, ${hex.length / 2 - 1} bytes)`)
      if (got === 3) { sawAll = true; peer.disconnect(0x08) }
    })
  })
  eth.sendStatus({ td: intToBytes(1), bestHash: genesis, genesisHash: genesis })
})

if (mode === 'dial' || mode === 'status') {
  const m = /^enode:\/\/([0-9a-f]{128})@([0-9.]+):(\d+)/.exec(arg)
  if (!m) fail('bad enode')
  rlpx.connect({ id: hexToBytes('0x' + m[1]), address: m[2], tcpPort: Number(m[3]) }).catch((e) => fail('connect: ' + e.message))
} else {
  rlpx.listen(Number(arg), '127.0.0.1')
  rlpx.events.on('listening', () => console.log(`enode://${bytesToHex(rlpx.id).slice(2)}@127.0.0.1:${arg}`))
  setTimeout(() => process.exit(0), 10000)
}
