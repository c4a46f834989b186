/* medfs: known-answer vectors shared by the unit suites.
 *
 * Inputs are fixed byte patterns; the expected values were produced once by
 * the library and cross-checked against an independent implementation of
 * the format (Python hashlib BLAKE2b, ChaCha20-Poly1305, HChaCha20; the
 * AES-256-GCM blocks by Python's cryptography package alone). Any
 * change to an on-disk format or key derivation makes these tests fail:
 * that is their purpose. Never regenerate them to make a test pass. */
#ifndef MEDFS_KAT_H
#define MEDFS_KAT_H

#include <stdint.h>
#include <string.h>

/* Inputs: byte i of each is base + i. */
#define KAT_VAULT_KEY_BASE 0x00	   /* vault key 00 01 .. 1f */
#define KAT_FILE_KEY_BASE 0x40	   /* file key 40 .. 5f */
#define KAT_FILE_ID_BASE 0xa0	   /* file id a0 .. af */
#define KAT_PARENT_ID_BASE 0x60	   /* binding parent id 60 .. 6f */
#define KAT_DIR_ID_BASE 0x10	   /* dir id (names, dir header) 10 .. 1f */
#define KAT_ROOT_ID_BASE 0x20	   /* root dir header id 20 .. 2f */
#define KAT_BLOCK_NONCE_BASE 0x80  /* block nonce 80 .. 97 */
#define KAT_HEADER_NONCE_BASE 0xc0 /* header nonce c0 .. d7 */

static inline void kat_fill(uint8_t *p, size_t len, uint8_t base)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(base + i);
}

/* Writes the lower-case hex of len bytes into out (2 * len + 1 bytes). */
static inline void kat_hex(char *out, const uint8_t *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

/* Subkeys 1..8 of the vault key (index 0 unused). */
static const char *const kat_subkey_hex[9] = {
	NULL,
	"7c12d8aef2d5545b09846c20b315762a49e2c09f695d3f446755fc4d563a5eb2",
	"da5cb50fa2b9258fc740b2d2fdcab3a73662565aa17d82344eed92494653306d",
	"8bbf73f61039f32f7a3e6d8a5bd6b9352e87b026476755988f1b8516d5ff910e",
	"f582cdd023d231b3b57676fa3cf14ce39b766943629227359729562047f888b9",
	"cdc71c1cf2f9d956bbbf45773bf9dd5e85b54c9fbadf1095bdb9583bbffd15bf",
	"6e4399388d5a894eada027e2675a9db906d5012c1902a71faf974c80a6bdfd15",
	"fd6133462e0303983fb58abee90fb652b5fd9c8dea282639ae3b3c8a79ee135c",
	"dca8042c5f33c493afa3ee874df884348f40a3bdbc1e72c7fceacb99a8ba4bab",
};

/* 4096-byte block: plaintext byte i = i & 0xff, index 3, file key, file id,
 * block nonce. */
#define KAT_BLOCK4096_INDEX 3
static const char kat_block4096_hex[] =
	"808182838485868788898a8b8c8d8e8f909192939495969702a274fac4375f73"
	"2285f6128a62cd5abe36c3aa87c27337a4cc0ef2f7ec20cd693fd4454905cc68"
	"6a6e6469b6b1dc2622a2376274065f3d7a94af9d807fd3f5a1690f853886bf1e"
	"17d61251627cb9b189368d4ebab8f52f0a1025801e37759a9e5ab77526b1ea57"
	"344486554d6b36ad3b87d64d3fc80523a47b35386c828cd4670834339d46e4df"
	"89a766f6f3b918261e877be33560a096307deb878bf8958aaa890cf7ba4a279c"
	"cc94a25f2dfe1462e7faf13a79e1cd93ef3c0dba45bb05225354f120f11e3e0a"
	"55c03b28b2dc4b3c0784bce8b635c4db68e9e3d619f1bb8e87deb48a34cc02bd"
	"bac669c5a61389dc790ecbf64784af9a5f4c42c9164fc41a204c665b327beaf7"
	"3f5485bb36fc9882502b90ffda3aff635034d7a1677b847639aedcd9dd2a298e"
	"8e26342d25d7dc8ecf471f7410461f9dc3de9b8fe15476e9b7f5718c10811429"
	"672421ae146be506b0e81ae052074a34e6fe6e48ea9078a413e153515295b7e8"
	"4d2d78cb523b18f5accf51e04753bb0e7de10b196e552bd65c6adb0f3b503614"
	"693f5e655ab6b078b61439afb7791139421ae90c61d13bb7e33d2dad8ba49f6c"
	"4e55c549f622489ed5232c71ee62bbd4ba41861ff2000c332bb1d33b316eb64d"
	"f9e28b30742a3b5841f3efcc8d495c6a3176f1a846bd17b5bc2a6300c3e16e0c"
	"2389714b55dbdeda4359a0afd46bda7ef7ce719de91a3c1ab355567a6653581c"
	"570e009e6fcf21654cbc2589347321ccef10f3dd2a31fbd15f47ccf9b962a431"
	"a81f04b61dce384cb423975dec006965d47089042a64d0c27c8026eaa0453a1f"
	"c2d3418c0de9f9b3a35e236aead881232d1ff370947d23cd4f4040fa39fa5c8a"
	"ac538ed3a2dd79d63bc4009d0e0c802d9feee20e5b4f03a0c2f42402c21ee90f"
	"de98260102c7c72e4cd8a4b00b4d8e9a3d1fc74b5f52d42d7171fc349c7b45c0"
	"6223fbf3f2347553da2f7763c9baabf321dfee819cdeb28687757ed064bff2cc"
	"852b6a048ec712abf90d1cb9f7ee83551c097aa038b0c45bd8e040f4e36587d8"
	"544fd54da2b1da6bd62a79a0821e349ce5667c52b3ca88fee2a780a3b17d4a41"
	"e6b3c9223013ee4b3934be5a3b30b7418662368d6b11fc73bf55b471758b55d1"
	"f99bcee949b2124d23ac859b761bfef2e982520cfa0f0ad9ab5f3b7af1172551"
	"cab204fd0b055dbc3c671f0eceb7bacc36f603af2192f24039aa59f500a71a42"
	"50dce581ff41d87a89579f938685cf7afd6ed2d08a9418f9b6a03081e1dfb691"
	"7de540f6fad28b2a88e0542ac3b763f12f8a821d81c639ae959f833cb6f2f3df"
	"abe4e00bb985ba3e6b7b2644ab7c9fcf2bea98c5edbde8dc300fc9e9af544e6a"
	"0dc762aaaed34f775ef2d32a43dc0709cbe3e6d046ff69101b41a319ce074ecf"
	"3baffed74345d71d0d54f5ffed2c982678303a7141c0a97ea1572bb547243b0e"
	"83795a4afb8ddbd5ce1f9164915a410f83dc9a9e9cac15a52eb2ecb995895335"
	"56bd8667335d3f8347a49d7eecd6bacda5411be61a00919edc609fa8b9817d81"
	"eaf83635451be020bfa9e45e9733b6bcdb603ceeb1bedca30165e07fc9993944"
	"0d860cb6dc4385851525030d7e0361c4da40418ee12d3d7baa0755c38a0e3ecd"
	"83970bcdb25309674f4e79fa8c8e5d171de20fe7740adcae6f69d26765cd6b1e"
	"41eaf29f6d550c5510fb617f21583f87640f0edb1e0b848a6248f54976c80f3d"
	"4c072420fcdf1c78d7b4b745cf7883528664d823ceef366961245ab4c8c54434"
	"e1fac5f23f14c6a3feae18221a6bccf8453106741d2e40290884a18ee0d14643"
	"93a3a4ec2e0cb5e7b39cec75a73826cf8434321f24c74de9b1b8d66249ae5bc2"
	"3f4d2915854bd29610f480eab3ff196bcba82645b85b9e7645d370d08077259b"
	"74c3bfecde295ab098ac8448b29ac47f488931a43cd313cb4c107bf52f9e086c"
	"37eb55e29bc6caf82fdd2823047bee9b64389f4e8dd2464ad9367590b77a0b12"
	"c71e398a97e6e095b9cffab7a04fe92524c1b2d63072e005fbf77acf70b3a4e1"
	"539d81bc9b8cbcaaea1ecb131d982cc4d8816184ac28c2e3330459fff6e16ff5"
	"4d89321958c5228bec3c2ca3969003d42f973e2b20b157f7e75c3da1f437bf5a"
	"c54e967f26f31cb1923ffe612eecbb1238419b1cb8f3c1dcc45722934a808c3b"
	"51d3d4ed03de44809c192c55b3581dd6c398218c1c6773a7c3579316f6fe7f1c"
	"f32691b9539a2bfac44e8c0e61073bac021cbd6e4e413a617714ade033c7d33c"
	"6785cea7a0f27adca391b153af4f5133f6752e944c99c6731856752e602207bc"
	"0b10d300c1a1639e14fbbcc453df94973d24837859546e6eefd5f96096d18725"
	"baad63dc5f4697c9e65d06a082019cceac1eb8ad515114d8d02178ffa7475db3"
	"4474f8d50c3135fd67e69ef6e06311a4c251d2919005d3d8e8018fd85ccebe90"
	"5253c918d1b15d5fe1fce8570b038a0a82985d941107c125cc1f85a23cacc791"
	"25ce99089a2704aa1cbc79bccd2c7aaef1a7ce59a419a007ef325aced4d1e35f"
	"cb2d537b91a12255cfe6174531609b495dc062bbf2b27704ec1186588b2b7858"
	"c53cf1c8240c7b8b8ea3d83012d57bd956c5b1de894d1351baad219db3cfd5c1"
	"744cf90268fc14024272feddd892cacbd0707e0aa247c815ad1d07bb41a13c25"
	"44edec60239228646140a07f108fc8336f5568215d33ac08e7fbe74e063897e9"
	"0cb092b1301f236601fbcc3054c5f8ec207d3238ad61c391af22a9f57731ead8"
	"615fe2585b5748326ac595c07e8ec70a22aeab6daedc2b86a96fdac4726a61d7"
	"879eadbe52d9f78361a166be34553c9355d582e0a133a0da4aff7c8787fad7ff"
	"b3159c58d2ff7e37decfc10754277b26970a3fbc89fdfbe006031842d4590b16"
	"57333b4deaa5a39faf1a1029dba4ded50754cc06b88beb11bef55c0f5b715633"
	"ddff4ab2c994964e6d00dc120c02cfc767f44493165005e12a4191da35c30871"
	"4c951c9e84b13d36b60f2d8428acc751081904b7c5e3f715261f3d75735503af"
	"6f8dfc42186eb5b75ff48ada5b5835e26bfc9f85823562f4c4388ba5eacd1620"
	"aeb889af8d2c0713fd036b3e7886f9ccb213f790b9c1b6303d85efb1e608a4a6"
	"71da8db074fb041ec6eff2080028b38444593399dd428fbcf787f0d20bc02cd8"
	"a83fc61c844809c7ab54ba3b0dd15752d41d3bea7d7fbd5c500653c4aeedd3ce"
	"10e89da9c48e3621249d9aa1a12675dc4822353b3822eb62972593fdde06a183"
	"58d053f699c3d9fc8bf168370251aa9bee64d57dfd7d33fe97e426d9e6fe960d"
	"e13a22fe52db9b0a938f7a333f38ebb53ea8a904620d14521f0cbc36796ac5ff"
	"5496e9e36ac6a630935068b8bf57ae91b4c46fb84a688a6b4051338eac0fd8d7"
	"192678110666c773c6fd4ba1472c89f16989339ffebb16e423922b3c254dea57"
	"587a07d6e4d04c7cba39d80ccec4e297c67b5bc0dd615584a677dc7614654640"
	"0a085e1036a5cb0e48016b0ca1a422909d1e0bb13f52847b710620c3584f6ad7"
	"f3c1afa2973aa73eb17b157e1c9af06ddb20b69394aa9bc25ab702a4ae0c5636"
	"6dd9e4d5359ff07b2a7c7dd3eae4e250d8db96f18274b1f4b0b47b32b81cdc89"
	"7568d808850c7ca9fa6fd038ee8df3f502763011b47053d662674947febccd25"
	"d83246e6c1a76f54111cb321127fe3a0a8e2a88b4c9130a70e90e8b80b10183d"
	"9264d0c235346f2d7cdc0a73f657f19f7188da0cd7ed9c6eb6a6bdaa8bc2662f"
	"605f389d1c5c6e6c408e868f66814ed9e51648866a61fe54473737f615784f63"
	"fa22b44853c1699a841e3cae8ce8a94cdfcc4e2d8202151510a76929a6c9c646"
	"ac8832f33e15b717c86bd9173e5c28c4c3d6a5af3f24a4bbdaeaf50a99d8332a"
	"e435a39189ea997b8b35971de05e38359610bc0ff4aa24ed262a743818b4bb32"
	"2018b44c152d08787f9009770cf1f92912a2bd8f9efe2fd7930ed187dd85fe7a"
	"bea442cefc41af4bc30347fca6a7ef6d4bb68e2cc3f3c273de55fdf5bbebb5c0"
	"7406355b8342209191f96feef7b2d72308b23ae9757c421a78daa71562fdca52"
	"e9047c5e169d64a77c0ced5919152ab60286566415878654dd9d46f249f57cd7"
	"6db18ac82aa7fef71d740bd717edb9b09fd5f57dfe23546ab121f9d7f19245b2"
	"d56f614877775e1209d9a771afb63ac21ff3a8687e412a4d24b53eb4b20d010e"
	"73df345facbd119b61d242093b86912a93bb3bd5bc3cb01544d22c35025a06a0"
	"f1a5c5f09c90f9eccd94883e01cceffce9511ae4184d09caf6eced01aed2c2c3"
	"cb2a3ce1dbbe83eb45b55da041b0717c49d7ebb00140980b0f2adf080b00a92e"
	"753fd04b0af4f5e36ba1a15527e50d1fae6a88fa32a186208de7c1a18ddd5f3d"
	"3a0c45d53536190982a116152acbaef0d7cda19f941e73fd5651bfd6e30693b2"
	"e15de9e73cc88e65c900957b35c5da3c225b796c8e08c5bc0e02387258badb34"
	"e8f8292d39fabf76fa76695799176355fbc0f5e653b5b72149f57416bb2d0c61"
	"cdbe62ea823de5e54674886c4d119a4cdc157d1830c1e5619d3158f27469c200"
	"f54383f595f99648e126d30876b0fc95e3361d690e5129242683a56de5ee3574"
	"9b8334e0695d8153ecd46ecfdecbe26df20e04e15da9120ba6cfbb7cbd9caefb"
	"3285e301d8538a255b2b62cb24e49ccc58972fca33757a8f1a73032b7f789ad7"
	"c7d64c4a63be25a00c930b20cdb7bf38619f20173c0f3b4f22d2aeca5e5a8be1"
	"fe86fc42ee635bfacaa36c1a120edb16c125a009dbb4834001f45a990b60cced"
	"2c75f256d406d9925bdd5bdc39a9d0ed2a6afeccff43ab1dc96e13143cc21cd1"
	"14f7d9b23b86eb1cd80fd391a2192a0804f6d4a7c670222e88d24c61adbccba2"
	"cc1eba3298aade4df523a88e74e2900471023484a496716e93390bea78695f40"
	"6fbc41ccfe7ed7fcfd3b5a6f1f80223ad828c55232444f240224ca34ec4d4038"
	"706ab1a6704e66a6f28e15f9a2a15305d20f93331ddc49200bbfe18718932407"
	"18e9b81f9cd5a17320be9e73925838238b0d44dcc19287630e41bea412d5cdaa"
	"48771bf024ebe79a5ab28d1e06bd07f2a00c0b75c305ed593d44b080c981a266"
	"a3322305a2ce1242c9ef93cd1c2cd5d35f554193060fb7747da819bab0f78c56"
	"669153b872188db42c5a23889d2d7ce459b4c4572cee0e73cbbb83e753f3c1e3"
	"a28b2c751b3837d744919ecf99e43229c8ae71b72ad104d7cac8a2b26df944b5"
	"e69da1fec95754b44cc4f080b0fcaa2ef0dbfa8e439ddf59576a65f5ccafe74c"
	"69b958fa65b81da987bc216378ddbc89419ee2c27e70bebd2bbe5070fd6fbce3"
	"59571cbc27142f604afb1cb012c616da6896d5633a01ff0bb1e31a57713b3dd0"
	"8884c0e72e6286e5550ce16dec46ab4ecce027ea6c411fef2983b7aab16c23df"
	"6aa4cfd15f965b5785762e856dabda8595851e78e8ae88eb25373b4d37f27f00"
	"0d07f789a78c2f8b2543b6f7190389871780ac3b20878dd7c225f02a31891d60"
	"b9fb5ea6692d59044129d73ed2d826e102eec50d9c258583b4b329ce89c88570"
	"f19a65ab982af24d5bda037537ea6da86c64e15ac803638410a1424c37f20e72"
	"c313c8776dfeba72623296edc27cedabbb10328968ec2cb3f02c416132a1fe86"
	"9310fcb2ef5a5db5c1d4727cd4f3f3482a6bcab1a869f5e1fc0c4e2780c046b5"
	"e612ed257e296a1efe5f845f61490bcce820e8b460a1b685308c42827c881588"
	"261431498f63176aeab9c7dd301038596fceb513df8f08b6ae96c1739640ebec"
	"6faa734b8641a8ee";

/* 10-byte block "medfs-kat!", index 0x0102030405060708 (checks the LE
 * encoding of the index), same key, id and nonce. */
#define KAT_BLOCK10_PLAIN "medfs-kat!"
#define KAT_BLOCK10_INDEX UINT64_C(0x0102030405060708)
static const char kat_block10_hex[] =
	"808182838485868788898a8b8c8d8e8f90919293949596976fc6129fb31f3215"
	"5eadabe2104dfa6f7f3fae4f6d4e6612215f";

/* The same two blocks with AES-256-GCM (cipher 2): the nonce is the first
 * 12 bytes of the block nonce (80 .. 8b), the rest of the nonce field zero.
 * Computed with Python's cryptography AESGCM (OpenSSL), not with libsodium.
 * The 4096-byte block is given by its BLAKE2b-256 (unkeyed) and its tag. */
static const char kat_aes_block4096_blake2b_hex[] =
	"be9d69f74363558d7b76cf4f880b4351091a314176f2ba0a998d36249ff78e96";
static const char kat_aes_block4096_head_hex[] =
	"808182838485868788898a8b0000000000000000000000002d5fbcc426712c84"
	"60639a237eaf9b2de8eddbc15972f003e69762cfcd087f63331d98f7f8d18b60";
static const char kat_aes_block4096_tag_hex[] = "b6bf32959f79a82e277c53562f8c517f";
static const char kat_aes_block10_hex[] =
	"808182838485868788898a8b000000000000000000000000403bdaa1515941e2"
	"1c4b4011a0cd13159cad37977e424c4687be";

/* File header: file id, file key, size 40965, header subkey, bound to the
 * parent id and "patient-0001.dcm", header nonce. */
#define KAT_HEADER_SIZE UINT64_C(40965)
#define KAT_HEADER_NAME "patient-0001.dcm"
static const char kat_header_hex[] =
	"4d44464801000000a0a1a2a3a4a5a6a7a8a9aaabacadaeafc0c1c2c3c4c5c6c7"
	"c8c9cacbcccdcecfd0d1d2d3d4d5d6d769c1055ee53781a2443fb8316751f59b"
	"bafec30d0229139748a734cc34b58f610f3cc96e208e9201644788ee39043a7c"
	"1c45aaf15d67526c";

/* The same file header at version 2, flagged STALE and PREV (3). */
/* Its ciphertext is the version 1 one (same key and nonce), its tag not. */
static const char kat_header_v2_hex[] =
	"4d44464802000300a0a1a2a3a4a5a6a7a8a9aaabacadaeafc0c1c2c3c4c5c6c7"
	"c8c9cacbcccdcecfd0d1d2d3d4d5d6d769c1055ee53781a2443fb8316751f59b"
	"bafec30d0229139748a734cc34b58f610f3cc96e208e920138253591b94cd588"
	"b322b50a2752eb1b";

/* Directory header: dir id, dir subkey, bound to the parent id and
 * "study-1". */
#define KAT_DIR_NAME "study-1"
static const char kat_dir_header_hex[] =
	"4d44464401000000101112131415161718191a1b1c1d1e1fe423b0328e71c5a2"
	"206eecf62286a9c7";

/* Root directory header: root id, all-zero parent id, empty name. */
static const char kat_root_header_hex[] =
	"4d44464401000000202122232425262728292a2b2c2d2e2f784ac8875d71599a"
	"5ee911417296e0b7";

/* Names in dir id, name key = subkey 2 || subkey 3. The 200-byte name is
 * byte i = 'a' + i % 26; its vault name is long, hence the entry. */
static const char kat_name_a[] = "KyD0CLwIFq6Up66RREhNDBeNc94XllM5Sgp1htfNxJ0";
static const char kat_name_patient[] = "Z5f2jgloUzNOLw_-4XmvccESwPrfENtKXyfkcY_8Uiw";
static const char kat_name_200[] =
	"yVO9xf51npI8HVISzVxMu5RK7cnM_YrF5rRZz0hQpvVsH41lofNFYLraiok7QpJx"
	"ETPMRfSXktWvc1xWsG_JTrvd7NTdSQm8GiU_W6dhd0QKj3ZA8JcDn5zA598W1YH3"
	"hxGSNHMWWFuMJ2cgCkfDw0887t608NeM5BRZnYPJMgpcRlypGXl6IC7kggR3XPv3"
	"4G-bFWnrxQ1TlKQRlQvwcRt5_qolJmZPEN33iz2RI709WuiopcmJe8I_uzcWCypf"
	"TEGmDQqJIrzZrTB9odf2nBwZAJeAGvSxLKBG6WYZDfI";
static const char kat_entry_200[] = "~nLeeZ9aXsA4ew-dg4gZeJn9sS5i_A91_ppVm37Rv5UM";

#endif
