;; SIMD inner loops of Parley's StreamResampler (src/audio/resampler.ts).
;; Rebuild the embedded bytes with: deno run -A src/audio/build_kernel.ts
;; (needs wat2wasm from wabt). All addresses are byte offsets into memory;
;; k (taps per output) is a multiple of 8.
(module
  (memory (export "memory") 1)

  ;; Sum of c[j] * x[j] for j < k: f32x4 lanes, four accumulators over
  ;; 16 taps per step, then one 8-tap step when k is an odd multiple of 8.
  (func $dot (export "dot") (param $c i32) (param $x i32) (param $k i32) (result f32)
    (local $a v128) (local $b v128) (local $d v128) (local $e v128) (local $end i32)
    (local.set $end (i32.add (local.get $c)
      (i32.shl (i32.and (local.get $k) (i32.const -16)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $c) (local.get $end)))
        (local.set $a (f32x4.add (local.get $a)
          (f32x4.mul (v128.load (local.get $c)) (v128.load (local.get $x)))))
        (local.set $b (f32x4.add (local.get $b)
          (f32x4.mul (v128.load offset=16 (local.get $c)) (v128.load offset=16 (local.get $x)))))
        (local.set $d (f32x4.add (local.get $d)
          (f32x4.mul (v128.load offset=32 (local.get $c)) (v128.load offset=32 (local.get $x)))))
        (local.set $e (f32x4.add (local.get $e)
          (f32x4.mul (v128.load offset=48 (local.get $c)) (v128.load offset=48 (local.get $x)))))
        (local.set $c (i32.add (local.get $c) (i32.const 64)))
        (local.set $x (i32.add (local.get $x) (i32.const 64)))
        (br $next)))
    (if (i32.and (local.get $k) (i32.const 8))
      (then
        (local.set $a (f32x4.add (local.get $a)
          (f32x4.mul (v128.load (local.get $c)) (v128.load (local.get $x)))))
        (local.set $b (f32x4.add (local.get $b)
          (f32x4.mul (v128.load offset=16 (local.get $c)) (v128.load offset=16 (local.get $x)))))))
    (local.set $a (f32x4.add (f32x4.add (local.get $a) (local.get $b))
      (f32x4.add (local.get $d) (local.get $e))))
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $a)) (f32x4.extract_lane 1 (local.get $a)))
      (f32.add (f32x4.extract_lane 2 (local.get $a)) (f32x4.extract_lane 3 (local.get $a)))))

  ;; Exact polyphase: one table row per phase p (0 <= p < L).
  (func (export "run")
    (param $tab i32) (param $x i32) (param $out i32) (param $count i32)
    (param $p i32) (param $stepI i32) (param $stepP i32) (param $L i32) (param $k i32)
    (local $end i32) (local $row i32) (local $stepX i32)
    (local.set $row (i32.shl (local.get $k) (i32.const 2)))
    (local.set $stepX (i32.shl (local.get $stepI) (i32.const 2)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (f32.store (local.get $out)
          (call $dot (i32.add (local.get $tab) (i32.mul (local.get $p) (local.get $row)))
            (local.get $x) (local.get $k)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $x (i32.add (local.get $x) (local.get $stepX)))
        (local.set $p (i32.add (local.get $p) (local.get $stepP)))
        (if (i32.ge_u (local.get $p) (local.get $L))
          (then
            (local.set $p (i32.sub (local.get $p) (local.get $L)))
            (local.set $x (i32.add (local.get $x) (i32.const 4)))))
        (br $next))))

  ;; Interpolated polyphase: the table has P + 1 rows; phase p / L falls
  ;; between rows q and q + 1 and the two outputs are blended linearly.
  (func (export "runInterp")
    (param $tab i32) (param $x i32) (param $out i32) (param $count i32)
    (param $p i32) (param $stepI i32) (param $stepP i32) (param $L i32) (param $k i32)
    (param $P i32)
    (local $end i32) (local $row i32) (local $stepX i32) (local $pos f64) (local $q i32)
    (local $y0 f32) (local $y1 f32) (local $addr i32)
    (local.set $row (i32.shl (local.get $k) (i32.const 2)))
    (local.set $stepX (i32.shl (local.get $stepI) (i32.const 2)))
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (local.set $pos (f64.div
          (f64.mul (f64.convert_i32_u (local.get $p)) (f64.convert_i32_u (local.get $P)))
          (f64.convert_i32_u (local.get $L))))
        (local.set $q (i32.trunc_f64_u (local.get $pos)))
        (local.set $addr (i32.add (local.get $tab) (i32.mul (local.get $q) (local.get $row))))
        (local.set $y0 (call $dot (local.get $addr) (local.get $x) (local.get $k)))
        (local.set $y1 (call $dot (i32.add (local.get $addr) (local.get $row))
          (local.get $x) (local.get $k)))
        (f32.store (local.get $out)
          (f32.add (local.get $y0)
            (f32.mul
              (f32.demote_f64 (f64.sub (local.get $pos) (f64.convert_i32_u (local.get $q))))
              (f32.sub (local.get $y1) (local.get $y0)))))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $x (i32.add (local.get $x) (local.get $stepX)))
        (local.set $p (i32.add (local.get $p) (local.get $stepP)))
        (if (i32.ge_u (local.get $p) (local.get $L))
          (then
            (local.set $p (i32.sub (local.get $p) (local.get $L)))
            (local.set $x (i32.add (local.get $x) (i32.const 4)))))
        (br $next))))

  ;; PCM16 to float: dst[i] = src[i] * 2^-15 (exact), 8 samples per step.
  (func (export "i16ToF32") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $v v128)
    (local.set $end (i32.add (local.get $src)
      (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 1))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $v (v128.load (local.get $src)))
        (v128.store (local.get $dst)
          (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (local.get $v)))
            (f32x4.splat (f32.const 0x1p-15))))
        (v128.store offset=16 (local.get $dst)
          (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (local.get $v)))
            (f32x4.splat (f32.const 0x1p-15))))
        (local.set $src (i32.add (local.get $src) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
        (br $next)))
    (local.set $end (i32.add (local.get $end)
      (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 1))))
    (block $done2
      (loop $next2
        (br_if $done2 (i32.ge_u (local.get $src) (local.get $end)))
        (f32.store (local.get $dst)
          (f32.mul (f32.convert_i32_s (i32.load16_s (local.get $src))) (f32.const 0x1p-15)))
        (local.set $src (i32.add (local.get $src) (i32.const 2)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
        (br $next2))))

  ;; Four floats to int32 lanes as JavaScript's Math.round(x * 32767) does:
  ;; the product is exact in f64, and floor(v + 0.5) is Math.round there.
  (func $round4 (param $f v128) (result v128)
    (local $lo v128) (local $hi v128)
    (local.set $lo (i32x4.trunc_sat_f64x2_s_zero (f64x2.floor (f64x2.add
      (f64x2.mul (f64x2.promote_low_f32x4 (local.get $f)) (f64x2.splat (f64.const 32767)))
      (f64x2.splat (f64.const 0.5))))))
    (local.set $hi (i32x4.trunc_sat_f64x2_s_zero (f64x2.floor (f64x2.add
      (f64x2.mul
        (f64x2.promote_low_f32x4
          (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $f) (local.get $f)))
        (f64x2.splat (f64.const 32767)))
      (f64x2.splat (f64.const 0.5))))))
    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $lo) (local.get $hi)))

  ;; Float to PCM16, rounded and clipped like audioToInt16; dst may equal src
  ;; (each store lands on floats already read).
  (func (export "f32ToI16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $a v128) (local $b v128) (local $r i32)
    (local.set $end (i32.add (local.get $src)
      (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $a (call $round4 (v128.load (local.get $src))))
        (local.set $b (call $round4 (v128.load offset=16 (local.get $src))))
        (v128.store (local.get $dst) (i16x8.narrow_i32x4_s (local.get $a) (local.get $b)))
        (local.set $src (i32.add (local.get $src) (i32.const 32)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (br $next)))
    (local.set $end (i32.add (local.get $end)
      (i32.shl (i32.and (local.get $n) (i32.const 7)) (i32.const 2))))
    (block $done2
      (loop $next2
        (br_if $done2 (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $r (i32.trunc_sat_f64_s (f64.floor (f64.add
          (f64.mul (f64.promote_f32 (f32.load (local.get $src))) (f64.const 32767))
          (f64.const 0.5)))))
        (if (i32.gt_s (local.get $r) (i32.const 32767)) (then (local.set $r (i32.const 32767))))
        (if (i32.lt_s (local.get $r) (i32.const -32768)) (then (local.set $r (i32.const -32768))))
        (i32.store16 (local.get $dst) (local.get $r))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 2)))
        (br $next2))))
)
