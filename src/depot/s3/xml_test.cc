#include "depot/s3/xml.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "depot/core/testing/status_matchers.h"

namespace depot::s3 {
namespace {

using ::depot::testing::IsOk;
using ::depot::testing::IsOkAndHolds;
using ::depot::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(S3Xml, ParsesErrorDocuments) {
  auto error = ParseError(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
      "<Message>The specified key does not exist.</Message><RequestId>tx0001</RequestId></Error>");
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, "NoSuchKey");
  EXPECT_EQ(error->message, "The specified key does not exist.");
  EXPECT_EQ(error->request_id, "tx0001");
  EXPECT_FALSE(ParseError("<CompleteMultipartUploadResult/>").has_value());
  EXPECT_FALSE(ParseError("<html>bad gateway</html").has_value());
  EXPECT_FALSE(ParseError("").has_value());
}

TEST(S3Xml, ParsesListObjectsV2WithUrlEncodedKeys) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><Prefix>a%2F</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
      "<EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>tok+1</NextContinuationToken>"
      "<Contents><Key>a/with+space%2Bplus</Key><LastModified>2024-05-01T10:20:30.123Z"
      "</LastModified><ETag>&quot;0123&quot;</ETag><Size>42</Size></Contents>"
      "<Contents><Key>a/%E6%97%A5</Key><LastModified>2024-05-01T10:20:30Z</LastModified>"
      "<ETag>\"abc-2\"</ETag><Size>0</Size></Contents>"
      "<CommonPrefixes><Prefix>a/dir%2F</Prefix></CommonPrefixes></ListBucketResult>");
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "a/with space+plus");
  EXPECT_EQ(page->objects[0].size, 42u);
  EXPECT_EQ(page->objects[0].etag, "0123");
  EXPECT_EQ(page->objects[1].key, "a/\xe6\x97\xa5");
  EXPECT_EQ(page->objects[1].etag, "abc-2");
  EXPECT_THAT(page->common_prefixes, ElementsAre("a/dir/"));
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "tok+1");
  auto t = ParseIso8601("2024-05-01T10:20:30.123Z");
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(page->objects[0].last_modified, *t);
}

TEST(S3Xml, KeepsKeysMadeOfSpacesAndLineEnds) {
  auto page = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>  </Key>"
      "<LastModified>2024-05-01T10:20:30Z</LastModified><Size>1</Size></Contents>"
      "<Contents><Key>a\r\nb</Key><LastModified>2024-05-01T10:20:30Z</LastModified>"
      "<Size>1</Size></Contents></ListBucketResult>");
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "  ");
  EXPECT_EQ(page->objects[1].key, "a\r\nb");
}

TEST(S3Xml, RejectsMalformedDocuments) {
  EXPECT_THAT(ParseListObjectsV2("<html></html>"),
              StatusIs(StatusCode::kInternal, HasSubstr("ListBucketResult")));
  EXPECT_THAT(ParseListObjectsV2("<ListBucketResult><Contents><Key>k</Key><Size>x</Size>"
                                 "</Contents></ListBucketResult>"),
              StatusIs(StatusCode::kInternal, HasSubstr("\"x\"")));
  EXPECT_THAT(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                                 "</ListBucketResult>"),
              StatusIs(StatusCode::kInternal, HasSubstr("NextContinuationToken")));
  EXPECT_THAT(ParseInitiateMultipartUpload("<InitiateMultipartUploadResult/>"),
              StatusIs(StatusCode::kInternal, HasSubstr("UploadId")));
  EXPECT_THAT(ParseListObjectsV2("<ListBucketResult><Contents><Key>%zz</Key></Contents>"
                                 "<EncodingType>url</EncodingType></ListBucketResult>"),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(S3Xml, ParsesMultipartDocuments) {
  auto id = ParseInitiateMultipartUpload(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
      "<UploadId>2~abc</UploadId></InitiateMultipartUploadResult>");
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(*id, "2~abc");
  auto etag = ParseResultEtag(
      "\n  <CompleteMultipartUploadResult><ETag>\"e-2\"</ETag></CompleteMultipartUploadResult>",
      "CompleteMultipartUploadResult");
  ASSERT_THAT(etag, IsOk());
  EXPECT_EQ(*etag, "e-2");
  auto empty = ParseResultEtag(
      "<CompleteMultipartUploadResult><ETag></ETag>"
      "</CompleteMultipartUploadResult>",
      "CompleteMultipartUploadResult");
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(*empty, "");
  auto uploads = ParseListMultipartUploads(
      "<ListMultipartUploadsResult><IsTruncated>true</IsTruncated><NextKeyMarker>k2"
      "</NextKeyMarker><NextUploadIdMarker>u2</NextUploadIdMarker><Upload><Key>k1</Key>"
      "<UploadId>u1</UploadId><Initiated>2024-01-02T03:04:05.000Z</Initiated></Upload>"
      "</ListMultipartUploadsResult>");
  ASSERT_THAT(uploads, IsOk());
  ASSERT_EQ(uploads->uploads.size(), 1u);
  EXPECT_EQ(uploads->uploads[0].key, "k1");
  EXPECT_EQ(uploads->uploads[0].upload_id, "u1");
  EXPECT_TRUE(uploads->truncated);
  EXPECT_EQ(uploads->next_key_marker, "k2");
  EXPECT_EQ(uploads->next_upload_id_marker, "u2");
}

TEST(S3Xml, ParsesDeleteResultAndBuckets) {
  auto failures = ParseDeleteResult(
      "<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>AccessDenied"
      "</Code><Message>no</Message></Error></DeleteResult>");
  ASSERT_THAT(failures, IsOk());
  ASSERT_EQ(failures->size(), 1u);
  EXPECT_EQ((*failures)[0].key, "b");
  EXPECT_EQ((*failures)[0].error.code, "AccessDenied");
  auto buckets = ParseListBuckets(
      "<ListAllMyBucketsResult><Owner><ID>o</ID></Owner><Buckets><Bucket><Name>one</Name>"
      "<CreationDate>2024-01-01T00:00:00.000Z</CreationDate></Bucket><Bucket><Name>two</Name>"
      "<CreationDate>2024-01-02T00:00:00.000Z</CreationDate></Bucket></Buckets>"
      "</ListAllMyBucketsResult>");
  ASSERT_THAT(buckets, IsOk());
  ASSERT_EQ(buckets->size(), 2u);
  EXPECT_EQ((*buckets)[1].name, "two");
}

// Parts carry the checksum element of their upload's algorithm, both ways.
TEST(S3Xml, PartChecksumsTravelInEveryPartList) {
  std::vector<Part> parts = {{1, "e1", 5}, {2, "e2", 6}};
  parts[1].checksum = "AAAAAA==";
  parts[1].checksum_algorithm = "CRC32";
  const std::string complete = CompleteMultipartXml(parts);
  EXPECT_EQ(complete,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"e1\"</ETag></Part>"
            "<Part><PartNumber>2</PartNumber><ETag>\"e2\"</ETag><ChecksumCRC32>AAAAAA=="
            "</ChecksumCRC32></Part></CompleteMultipartUpload>");
  auto parsed = ParseCompleteMultipartUpload(complete);
  ASSERT_THAT(parsed, IsOk());
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0].checksum, "");
  EXPECT_EQ((*parsed)[1].checksum, "AAAAAA==");
  EXPECT_EQ((*parsed)[1].checksum_algorithm, "CRC32");

  auto listed = ParseListParts(
      "<ListPartsResult><IsTruncated>false</IsTruncated><Part><PartNumber>3</PartNumber>"
      "<LastModified>2024-01-02T03:04:05.000Z</LastModified><ETag>\"e3\"</ETag><Size>7</Size>"
      "<ChecksumSHA256>c2hh</ChecksumSHA256></Part></ListPartsResult>");
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->parts.size(), 1u);
  EXPECT_EQ(listed->parts[0].checksum, "c2hh");
  EXPECT_EQ(listed->parts[0].checksum_algorithm, "SHA256");

  auto done = ParseCompleteMultipartResult(
      "<CompleteMultipartUploadResult><ETag>\"e-2\"</ETag><ChecksumCRC32>AAAAAA==-2"
      "</ChecksumCRC32><ChecksumType>COMPOSITE</ChecksumType></CompleteMultipartUploadResult>");
  ASSERT_THAT(done, IsOk());
  EXPECT_EQ(done->etag, "e-2");
  EXPECT_EQ(done->checksum, "AAAAAA==-2");
  EXPECT_EQ(done->checksum_algorithm, "CRC32");
  EXPECT_EQ(done->checksum_type, "COMPOSITE");

  auto attributes = ParseObjectAttributesParts(
      "<GetObjectAttributesResponse><ETag>e</ETag><ObjectParts><PartsCount>3</PartsCount>"
      "<NextPartNumberMarker>2</NextPartNumberMarker><IsTruncated>true</IsTruncated>"
      "<Part><PartNumber>1</PartNumber><Size>10</Size><ChecksumCRC32C>YQ==</ChecksumCRC32C>"
      "</Part><Part><PartNumber>2</PartNumber><Size>11</Size></Part></ObjectParts>"
      "</GetObjectAttributesResponse>");
  ASSERT_THAT(attributes, IsOk());
  EXPECT_TRUE(attributes->truncated);
  EXPECT_EQ(attributes->next_part_number_marker, "2");
  ASSERT_EQ(attributes->parts.size(), 2u);
  EXPECT_EQ(attributes->parts[0].size, 10u);
  EXPECT_EQ(attributes->parts[0].checksum_algorithm, "CRC32C");
  EXPECT_EQ(attributes->parts[1].part_number, 2);
  EXPECT_EQ(attributes->parts[1].checksum, "");
  EXPECT_THAT(ParseObjectAttributesParts("<GetObjectAttributesResponse><ETag>e</ETag>"
                                         "</GetObjectAttributesResponse>"),
              IsOk());
  EXPECT_THAT(ParseObjectAttributesParts(
                  "<GetObjectAttributesResponse><ObjectParts><Part><PartNumber>x</PartNumber>"
                  "</Part></ObjectParts></GetObjectAttributesResponse>"),
              StatusIs(StatusCode::kInternal, HasSubstr("\"x\"")));
}

TEST(S3Xml, TagSetsParseAsS3ChecksThemAndRoundTrip) {
  auto tagging = [](std::string tags) {
    return "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet>" + tags +
           "</TagSet></Tagging>";
  };
  auto tag = [](std::string key, std::string value) {
    return "<Tag><Key>" + key + "</Key><Value>" + value + "</Value></Tag>";
  };
  auto tags = ParseTagging(tagging(tag("team", "a&amp;b") + tag("empty", "") + tag("ü", "é")), 50);
  ASSERT_THAT(tags, IsOk());
  const std::vector<Tag> expected = {{"team", "a&b"}, {"empty", ""}, {"ü", "é"}};
  EXPECT_EQ(*tags, expected);
  EXPECT_THAT(ParseTagging(TaggingXml(*tags), 50), IsOkAndHolds(expected));
  EXPECT_EQ(EncodeTagSet(*tags), "team=a%26b&empty=&%C3%BC=%C3%A9");
  EXPECT_THAT(DecodeTagSet(EncodeTagSet(*tags)), IsOkAndHolds(expected));
  EXPECT_THAT(DecodeTagSet("a+b=c%20d"), IsOkAndHolds(std::vector<Tag>{{"a b", "c d"}}));
  EXPECT_THAT(ParseTagging(tagging(""), 50), IsOkAndHolds(std::vector<Tag>{}));

  // 128 characters of key and 256 of value count characters, not bytes.
  std::string key128;
  for (int i = 0; i < 128; ++i) key128 += "é";
  EXPECT_THAT(ParseTagging(tagging(tag(key128, "")), 50), IsOk());
  EXPECT_THAT(ParseTagging(tagging(tag(key128 + "x", "")), 50),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("InvalidTag: the tag key")));
  EXPECT_THAT(ParseTagging(tagging(tag("k", std::string(257, 'v'))), 50),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("longer than 256")));
  EXPECT_THAT(ParseTagging(tagging(tag("", "v")), 50),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("InvalidTag")));
  EXPECT_THAT(ParseTagging(tagging(tag("aws:x", "v")), 50),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("reserved")));
  EXPECT_THAT(ParseTagging(tagging(tag("k", "1") + tag("k", "2")), 50),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"k\" is given twice")));
  std::string eleven;
  for (int i = 0; i < 11; ++i) eleven += tag("k" + std::to_string(i), "v");
  EXPECT_THAT(ParseTagging(tagging(eleven), 10),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("11 tags; at most 10")));
  EXPECT_THAT(ParseTagging("<Tagging/>", 50),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("MalformedXML")));
  EXPECT_THAT(ParseTagging("not xml", 50),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("MalformedXML")));
  EXPECT_THAT(ParseTagging(tagging("<Tag><Key>k</Key></Tag>"), 50),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("MalformedXML")));
}

TEST(S3Xml, BuildsEscapedRequestDocuments) {
  std::vector<std::string> keys = {"a&b", "<x>", "q\"'", "line\nend"};
  EXPECT_EQ(DeleteObjectsXml(keys),
            "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>&lt;x&gt;"
            "</Key></Object><Object><Key>q&quot;&apos;</Key></Object><Object><Key>line&#10;end"
            "</Key></Object></Delete>");
  EXPECT_EQ(CreateBucketXml("us-east-1"), "");
  EXPECT_THAT(CreateBucketXml("eu-west-2"), HasSubstr("<LocationConstraint>eu-west-2<"));
  EXPECT_THAT(ParseCreateBucketXml(CreateBucketXml("eu-west-2")), IsOkAndHolds("eu-west-2"));
  EXPECT_THAT(ParseCreateBucketXml(""), IsOkAndHolds(""));
  EXPECT_THAT(ParseCreateBucketXml("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/"
                                   "doc/2006-03-01/\"/>"),
              IsOkAndHolds(""));
  EXPECT_THAT(ParseCreateBucketXml("<Nope/>"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(S3Xml, CorsConfigurationsParseRoundTripAndRefuseWhatS3Refuses) {
  const char* kDocument = R"(<?xml version="1.0" encoding="UTF-8"?>
<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <CORSRule>
    <ID>uploads</ID>
    <AllowedOrigin>https://*.example.com</AllowedOrigin>
    <AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod>
    <AllowedHeader>*</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <MaxAgeSeconds>3000</MaxAgeSeconds>
  </CORSRule>
  <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>
</CORSConfiguration>)";
  auto rules = ParseCorsConfiguration(kDocument);
  ASSERT_THAT(rules, IsOk());
  ASSERT_EQ(rules->size(), 2u);
  EXPECT_EQ((*rules)[0].id, "uploads");
  EXPECT_THAT((*rules)[0].allowed_methods, ElementsAre("PUT", "POST"));
  EXPECT_EQ((*rules)[0].max_age_seconds, 3000);
  EXPECT_THAT((*rules)[1].allowed_origins, ElementsAre("*"));
  EXPECT_EQ((*rules)[1].max_age_seconds, std::nullopt);
  EXPECT_THAT(ParseCorsConfiguration(CorsConfigurationXml(*rules)), IsOkAndHolds(*rules));

  auto refused = [](std::string rule) {
    return ParseCorsConfiguration("<CORSConfiguration>" + rule + "</CORSConfiguration>").status();
  };
  EXPECT_THAT(refused(""), StatusIs(StatusCode::kInvalidArgument, HasSubstr("no CORSRule")));
  EXPECT_THAT(refused("<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH"
                      "</AllowedMethod></CORSRule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("Unsupported method is PATCH")));
  EXPECT_THAT(refused("<CORSRule><AllowedOrigin>*.*</AllowedOrigin><AllowedMethod>GET"
                      "</AllowedMethod></CORSRule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"*.*\"")));
  EXPECT_THAT(refused("<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("AllowedOrigin")));
  EXPECT_THAT(refused("<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET"
                      "</AllowedMethod><MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("soon")));
  EXPECT_THAT(ParseCorsConfiguration("<CORSConfiguration>"),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(S3Xml, TimestampsRoundTrip) {
  auto iso = ParseIso8601("2013-05-24T00:00:00Z");
  ASSERT_THAT(iso, IsOk());
  EXPECT_EQ(FormatHttpDate(*iso), "Fri, 24 May 2013 00:00:00 GMT");
  auto http = ParseHttpDate("Fri, 24 May 2013 00:00:00 GMT");
  ASSERT_THAT(http, IsOk());
  EXPECT_EQ(*http, *iso);
  EXPECT_THAT(ParseHttpDate("Friday 24 May"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHttpDate("Fri, 24 Foo 2013 00:00:00 GMT"),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseIso8601("2013-05-24 00:00:00"), StatusIs(StatusCode::kInternal));
  EXPECT_EQ(Unquote("\"abc\""), "abc");
  EXPECT_EQ(Unquote("abc"), "abc");
}

TEST(XmlTest, Iso8601FormatsWhatItParses) {
  auto t = ParseIso8601("2024-05-01T10:20:30.123Z");
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(FormatIso8601(*t), "2024-05-01T10:20:30.123Z");
}

TEST(S3Xml, LifecycleConfigurationsParseRoundTripAndRefuseWhatS3Refuses) {
  auto document = [](std::string_view rules) {
    return fmt::format("<LifecycleConfiguration>{}</LifecycleConfiguration>", rules);
  };
  auto rules = ParseLifecycleConfiguration(document(
      "<Rule><ID>old</ID><Prefix>logs/</Prefix><Status>Enabled</Status>"
      "<Expiration><Days>31</Days></Expiration></Rule>"
      "<Rule><Filter><And><Prefix>a/</Prefix><Tag><Key>k</Key><Value>v</Value></Tag>"
      "<ObjectSizeGreaterThan>10</ObjectSizeGreaterThan></And></Filter><Status>Disabled</Status>"
      "<Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration>"
      "<NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays>"
      "<NewerNoncurrentVersions>3</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>"
      "<Rule><ID>parts</ID><Filter/><Status>Enabled</Status><AbortIncompleteMultipartUpload>"
      "<DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>"
      "<Rule><ID>markers</ID><Filter><Prefix>m/</Prefix></Filter><Status>Enabled</Status>"
      "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
      "</Rule>"));
  ASSERT_THAT(rules, IsOk());
  ASSERT_EQ(rules->size(), 4u);
  EXPECT_EQ((*rules)[0].form, LifecycleRule::Form::kPrefix);
  EXPECT_EQ((*rules)[0].expiration_days, 31);
  const LifecycleRule& second = (*rules)[1];
  EXPECT_EQ(second.id, "rule-1");  // made, as none was given
  EXPECT_FALSE(second.enabled);
  EXPECT_TRUE(second.and_form);
  EXPECT_EQ(second.prefix, "a/");
  EXPECT_EQ(second.tags, (std::vector<Tag>{{"k", "v"}}));
  EXPECT_EQ(second.size_greater_than, 10u);
  EXPECT_EQ(second.expiration_date, ParseIso8601("2030-01-01T00:00:00Z").value());
  EXPECT_EQ(second.noncurrent_days, 2);
  EXPECT_EQ(second.newer_noncurrent_versions, 3);
  EXPECT_EQ((*rules)[2].abort_multipart_days, 7);
  EXPECT_TRUE((*rules)[3].expired_object_delete_marker);
  // What depot stores and answers parses back to the same rules.
  auto again = ParseLifecycleConfiguration(LifecycleConfigurationXml(*rules));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, *rules);
  // A plain date is midnight UTC.
  EXPECT_THAT(ParseLifecycleConfiguration(
                  document("<Rule><ID>d</ID><Prefix/><Status>Enabled</Status>"
                           "<Expiration><Date>2017-09-27</Date></Expiration></Rule>")),
              IsOk());

  auto refused = [&](std::string_view rule) {
    return ParseLifecycleConfiguration(document(rule)).status();
  };
  const std::string days = "<Expiration><Days>1</Days></Expiration>";
  EXPECT_THAT(refused("<Rule><ID>" + std::string(256, 'a') + "</ID><Status>Enabled</Status>" +
                      days + "</Rule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("InvalidArgument: the rule ID")));
  EXPECT_THAT(ParseLifecycleConfiguration(
                  document("<Rule><ID>x</ID><Status>Enabled</Status><Filter/>" + days + "</Rule>" +
                           "<Rule><ID>x</ID><Status>Enabled</Status><Filter/>" + days + "</Rule>")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("given twice")));
  EXPECT_THAT(refused("<Rule><Status>enabled</Status>" + days + "</Rule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("MalformedXML: ")));
  EXPECT_THAT(
      refused("<Rule><Status>Enabled</Status><Filter/><Expiration><Days>0</Days></Expiration>"
              "</Rule>"),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("InvalidArgument: Expiration Days")));
  EXPECT_THAT(
      refused("<Rule><Status>Enabled</Status><Filter/><Expiration><Date>1970-08-22T19:28:21Z"
              "</Date></Expiration></Rule>"),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("midnight UTC")));
  EXPECT_THAT(refused("<Rule><Status>Enabled</Status><Prefix/><Filter/>" + days + "</Rule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not both")));
  EXPECT_THAT(refused("<Rule><Status>Enabled</Status><Filter><Prefix>a</Prefix><Prefix>b"
                      "</Prefix></Filter>" +
                      days + "</Rule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("<Prefix> twice")));
  // Several predicates without an And are their And, as RGW takes them.
  auto loose = ParseLifecycleConfiguration(
      document("<Rule><ID>r</ID><Status>Enabled</Status><Filter><Prefix>a</Prefix><Tag><Key>k"
               "</Key><Value>v</Value></Tag></Filter>" +
               days + "</Rule>"));
  ASSERT_THAT(loose, IsOk());
  EXPECT_EQ((*loose)[0].prefix, "a");
  EXPECT_EQ((*loose)[0].tags.size(), 1u);
  EXPECT_THAT(ParseLifecycleConfiguration(LifecycleConfigurationXml(*loose)), IsOkAndHolds(*loose));
  EXPECT_THAT(refused("<Rule><Status>Enabled</Status>" + days + "</Rule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("needs a Filter")));
  EXPECT_THAT(
      refused("<Rule><ID>a&#13;&#10;b</ID><Status>Enabled</Status><Filter/>" + days + "</Rule>"),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("control characters")));
  EXPECT_THAT(refused("<Rule><Status>Enabled</Status><Status>Disabled</Status><Filter/>" + days +
                      "</Rule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("<Status> twice")));
  EXPECT_THAT(refused("<Rule><Status>Enabled</Status><Filter><Prefix>a</Prefix><And><Prefix>b"
                      "</Prefix></And></Filter>" +
                      days + "</Rule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("nothing else")));
  EXPECT_THAT(refused("<Rule><Status>Enabled</Status><Filter><And><ObjectSizeGreaterThan>9"
                      "</ObjectSizeGreaterThan><ObjectSizeLessThan>9</ObjectSizeLessThan></And>"
                      "</Filter>" +
                      days + "</Rule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not below")));
  EXPECT_THAT(refused("<Rule><Status>Enabled</Status><Filter/></Rule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("no action")));
  EXPECT_THAT(refused("<Rule><Status>Enabled</Status><Filter><Tag><Key>k</Key><Value>v</Value>"
                      "</Tag></Filter><AbortIncompleteMultipartUpload><DaysAfterInitiation>1"
                      "</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("AbortIncompleteMultipartUpload")));
  EXPECT_THAT(refused("<Rule><Status>Enabled</Status><Filter/><Transition><Days>1</Days>"
                      "<StorageClass>GLACIER</StorageClass></Transition></Rule>"),
              StatusIs(StatusCode::kUnimplemented, HasSubstr("transitions")));
  EXPECT_THAT(
      refused("<Rule><Status>Enabled</Status><Filter/><Colour>red</Colour>" + days + "</Rule>"),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("<Colour>")));
  EXPECT_THAT(ParseLifecycleConfiguration(document("")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("0 rules")));
}

}  // namespace
}  // namespace depot::s3
