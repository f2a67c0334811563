// gobench: an independent MQTT load generator built on the Eclipse Paho Go
// client, used by bench/compare to cross-check strata-bench's numbers with a
// third-party MQTT client stack. It follows mqtt-bench's method: every
// publisher waits for each publish token before sending the next, and
// prints mqtt-bench's Result line; subscribers count what arrives.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

func main() {
	broker := flag.String("broker", "tcp://127.0.0.1:1883", "URI of the MQTT broker")
	clients := flag.Int("clients", 10, "publishers (and as many subscribers, one per publisher topic)")
	count := flag.Int("count", 100, "messages per publisher")
	size := flag.Int("size", 256, "payload bytes")
	qos := flag.Int("qos", 0, "QoS 0|1|2")
	topic := flag.String("topic", "/mqtt-bench/benchmark", "base topic")
	timeout := flag.Duration("timeout", 60*time.Second, "bound of the whole run")
	flag.Parse()

	connect := func(id string) mqtt.Client {
		opts := mqtt.NewClientOptions().AddBroker(*broker).SetClientID(id).SetCleanSession(true).
			SetAutoReconnect(false).SetOrderMatters(false)
		c := mqtt.NewClient(opts)
		if t := c.Connect(); !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			fmt.Fprintf(os.Stderr, "connect %s: %v\n", id, t.Error())
			os.Exit(2)
		}
		return c
	}

	var received atomic.Int64
	expected := int64(*clients * *count)
	done := make(chan struct{})
	var once sync.Once
	subs := make([]mqtt.Client, *clients)
	for i := range subs {
		subs[i] = connect(fmt.Sprintf("gobench-%d-s%d", os.Getpid(), i))
		t := subs[i].Subscribe(fmt.Sprintf("%s/%d", *topic, i), byte(*qos), func(mqtt.Client, mqtt.Message) {
			if received.Add(1) == expected {
				once.Do(func() { close(done) })
			}
		})
		if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			fmt.Fprintf(os.Stderr, "subscribe: %v\n", t.Error())
			os.Exit(2)
		}
	}
	pubs := make([]mqtt.Client, *clients)
	for i := range pubs {
		pubs[i] = connect(fmt.Sprintf("gobench-%d-p%d", os.Getpid(), i))
	}
	payload := []byte(strings.Repeat("x", *size))

	start := time.Now()
	var wg sync.WaitGroup
	var published atomic.Int64
	for i, c := range pubs {
		wg.Add(1)
		go func(i int, c mqtt.Client) {
			defer wg.Done()
			t := fmt.Sprintf("%s/%d", *topic, i)
			for n := 0; n < *count; n++ {
				tok := c.Publish(t, byte(*qos), false, payload)
				if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
					published.Add(1)
				}
			}
		}(i, c)
	}
	wg.Wait()
	pubElapsed := time.Since(start)
	select {
	case <-done:
	case <-time.After(*timeout):
	}
	recvElapsed := time.Since(start)
	for _, c := range append(pubs, subs...) {
		c.Disconnect(100)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	fmt.Printf("Result : broker=%s, clients=%d, totalCount=%d, duration=%dms, throughput=%.2fmessages/sec\n",
		*broker, *clients, published.Load(), pubElapsed.Milliseconds(), float64(published.Load())/pubElapsed.Seconds())
	fmt.Printf("Received : totalCount=%d, expected=%d, duration=%.0fms, throughput=%.2fmessages/sec\n",
		received.Load(), expected, ms(recvElapsed), float64(received.Load())/recvElapsed.Seconds())
}
